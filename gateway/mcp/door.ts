// The route's door: what is refused before a body is read (admit), a body over the limit
// (limitBody), and the one place where a stage's failure becomes the client's answer (guarded).
import type { Context, Next } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { semconv } from '../telemetry/index.ts';
import { ErrorCode, GatewayError } from '../errors.ts';
import { answeredBy } from './trail-stage.ts';
import { ClientGone } from './relay.ts';
import type { Env, McpDeps } from './context.ts';

/**
 * Everything refused before a body is read: foreign Origin, rebinding Host, unknown target, and
 * a caller without a valid token for that target.
 */
export function admit(deps: McpDeps) {
  return async (c: Context<Env>, next: () => Promise<void>) => {
    const origin = c.req.header('origin');
    if (origin !== undefined && !deps.isAllowedOrigin(origin)) {
      return new GatewayError(403, ErrorCode.ForbiddenOrigin, `Forbidden: Origin ${JSON.stringify(origin)} is not allowed`).toResponse();
    }
    const host = c.req.header('host') ?? '';
    if (!deps.isAllowedHost(host)) {
      return new GatewayError(403, ErrorCode.ForbiddenOrigin, `Forbidden: Host ${JSON.stringify(host)} is not allowed`).toResponse();
    }
    const target = deps.upstreams.get(c.req.param('target') ?? '');
    if (target === undefined) {
      return new GatewayError(404, ErrorCode.UnknownTarget, `Not Found: no MCP target named '${c.req.param('target')}'`).toResponse();
    }
    c.set('target', target);
    const trail = deps.trail(c.req.raw.headers, target.name, c.env?.incoming?.socket.remoteAddress);
    c.set('trail', trail);
    try {
      const identity = await trail.stage(semconv.SPAN_AUTHENTICATE, () => deps.authenticator.authenticate(c.req.raw, target.name));
      trail.identify(identity);
      c.set('identity', identity);
    } catch (err) {
      if (!(err instanceof GatewayError)) {
        trail.end(err);
        throw err;
      }
      answeredBy(trail, err.body(null));
      trail.end(err);
      return err.toResponse();
    }
    await next();
  };
}

export function guarded(deps: McpDeps, handler: (c: Context<Env>) => Promise<Response>) {
  return async (c: Context<Env>) => {
    const trail = c.get('trail');
    try {
      const res = await handler(c);
      trail.answered();
      return res;
    } catch (err) {
      if (err instanceof ClientGone) {
        trail.end(err);
        return new Response(null, { status: 499 });
      }
      let failure = err;
      if (!(err instanceof GatewayError)) {
        deps.log(`internal error on ${c.req.method} ${c.req.path}: ${(err as Error).stack ?? String(err)}`);
        failure = new GatewayError(500, ErrorCode.InternalError, 'Internal error in the gateway; the request was not forwarded or its answer was withheld');
      }
      const error = failure as GatewayError;
      const id = error.id ?? c.get('rpcId') ?? null;
      answeredBy(trail, error.body(id));
      trail.end(err);
      return error.toResponse(id);
    }
  };
}

/**
 * Refuses bodies over the limit. A declared Content-Length is checked up front (Node's parser
 * holds the body to it), which keeps the body on node-server's direct read path; only chunked
 * bodies are counted while streaming, by Hono's bodyLimit.
 */
export function limitBody(maxBytes: number) {
  const tooLarge = () => new GatewayError(413, ErrorCode.PayloadTooLarge, `Payload Too Large: the body exceeds ${maxBytes} bytes`).toResponse();
  const streaming = bodyLimit({ maxSize: maxBytes, onError: tooLarge });
  return async (c: Context<Env>, next: Next) => {
    const declared = c.req.header('content-length');
    if (declared === undefined) return streaming(c, next);
    if (Number(declared) > maxBytes) return tooLarge();
    await next();
  };
}
