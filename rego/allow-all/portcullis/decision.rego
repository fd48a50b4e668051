# METADATA
# title: Allow everything
# description: |
#   Allows every message, with rule id "allow_all". For runs that test the gateway's protocol
#   handling rather than a policy (the MCP conformance suite). Never deploy it in front of a
#   real server.
package portcullis

# METADATA
# description: The decision for one MCP message (docs/policy-contract.md), always allowing.
# entrypoint: true
decision := {
	"allow": true,
	"reasons": ["allow-all policy: every message is allowed"],
	"rule_ids": ["allow_all"],
}
