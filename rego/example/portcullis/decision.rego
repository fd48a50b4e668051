# METADATA
# title: Example team policy for the demo MCP server
# description: |
#   Entrypoint of the bundle (portcullis/decision). Routes each message to the package that
#   decides it and denies whatever none of them claims. Contract: docs/policy-contract.md.
#   The catalog of tools, prompts and resources, their classes and the masks are in data.json.
package portcullis

import data.portcullis.approvals
import data.portcullis.calls
import data.portcullis.lib
import data.portcullis.protocol
import data.portcullis.server_requests

# METADATA
# description: The decision for one MCP message.
# entrypoint: true
decision := _unsupported_contract if {
	not input.contract == "portcullis/v1"
} else := approvals.decision if {
	approvals.applies
} else := calls.decision if {
	calls.applies
} else := server_requests.decision if {
	server_requests.applies
} else := protocol.decision if {
	protocol.applies
} else := lib.deny(
	"example.method.unknown",
	concat("", ["this method (", input.direction, " ", input.kind, ") is not allowed by this policy"]),
)

# A later contract version may change what fields mean: refuse rather than guess.
_unsupported_contract := lib.deny(
	"example.contract.unsupported",
	concat("", [
		"this policy implements contract portcullis/v1, the input declares ",
		json.marshal(object.get(input, "contract", null)),
	]),
)
