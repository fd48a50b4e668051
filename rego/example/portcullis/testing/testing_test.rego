# METADATA
# description: |
#   Helpers for the example policy's tests (a _test.rego file, so never part of the bundle):
#   inputs shaped as the gateway builds them (docs/policy-contract.md).
package portcullis.testing

# METADATA
# description: |
#   A policy input as the gateway builds it (docs/policy-contract.md): a tools/call request
#   from the client by an anonymous subject without groups, with `fields` replacing defaults.
message(fields) := object.union(
	{
		"contract": "portcullis/v1",
		"protocol": {"era": "legacy", "version": "2025-11-25"},
		"direction": "client_to_server",
		"kind": "request",
		"method": "tools/call",
		"name": "",
		"arguments": {},
		"params": {},
		"truncated": false,
		"target": "demo",
		"session_id": "",
		"subject": subject([]),
	},
	fields,
)

# METADATA
# description: The configured anonymous subject, with groups.
subject(groups) := {
	"authenticated": false,
	"type": "anonymous",
	"sub": "",
	"issuer": "",
	"client_id": "",
	"email": "",
	"groups": groups,
	"scopes": [],
	"claims": {},
}

# METADATA
# description: A tools/call of `name` by a subject in `groups`.
call(name, groups) := message({"name": name, "subject": subject(groups)})
