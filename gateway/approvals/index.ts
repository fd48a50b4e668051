// Human approval per call (docs/approvals.md): the policy says a tools/call needs approval; the
// call is held, the right approvers decide, and the stored call runs exactly once. Other modules
// import only from here.
export { parseApproval, type ApprovalGate, type ApprovalRequirement, type ApprovalScope } from './obligation.ts';
export { ApprovalFlow, APPROVAL_INPUT_KEY, isGatewayState, splitParams, type ApprovalFlowOptions, type HeldRequest } from './flow.ts';
export { Approvals, type ApprovalView, type HeldCall } from './service.ts';
export { MemoryApprovalStore, type ApprovalStore } from './store.ts';
export { RedisApprovalStore } from './redis-store.ts';
export { parseSealingKeys, Sealer, SealError, type SealingKey } from './seal.ts';
export type { ApprovalRecord, ApprovalState, AuditEvent, Person, Vote } from './machine.ts';
export { approvalRoutes, type ApprovalApiDeps } from './api.ts';
export { approvalsConfigSchema, type ApprovalsConfig } from './config.ts';
export { approvalPage } from './page.ts';
export { parseWebhookSecrets, webhookSignature, Webhooks, type WebhookEndpoint } from './webhooks.ts';
export { approvalWeb, approverSession, type ApprovalWebDeps } from './web.ts';
