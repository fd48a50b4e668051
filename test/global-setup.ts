// Tests that start `portcullis` as a process (the CLI, replicas, workers) run dist/, the compiled
// JavaScript production runs. Building it once here keeps them testing the code in the tree.
import { build } from '../scripts/build.ts';

export default function buildDist(): void {
  build();
}
