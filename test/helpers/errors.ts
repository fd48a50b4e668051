/** The error a promise rejects with; fails the test when it resolves instead. */
export async function errorOf(promise: Promise<unknown>): Promise<{ code: number; message: string }> {
  try {
    await promise;
  } catch (err) {
    return err as { code: number; message: string };
  }
  throw new Error('expected the call to fail');
}
