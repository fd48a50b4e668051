# METADATA
# description: |
#   Protocol plumbing that carries no tool, prompt or resource of its own: lifecycle, ping,
#   list methods (whose entries are filtered item by item, see the calls package), completion,
#   logging, notifications, and responses to anything that is not a call. Allowed in both
#   directions; the list of methods is data (data.mcp.protocol_methods).
package portcullis.protocol

import data.mcp
import data.portcullis.lib

# METADATA
# description: True when this package decides the message.
# scope: document
applies if input.kind == "response"

applies if input.kind == "notification"

applies if {
	input.kind == "request"
	mcp.protocol_methods[input.method] == true
}

# Reasons name no method: they reach the client and the audit trail verbatim, and the method is
# the sender's text (the decision record carries it, bounded).

# METADATA
# description: The decision for a protocol message; total when `applies` holds.
decision := lib.allow("example.protocol.response", "response to a request") if {
	input.kind == "response"
} else := lib.allow("example.protocol.notification", "protocol notification") if {
	input.kind == "notification"
	startswith(input.method, "notifications/")
} else := lib.allow("example.protocol.method", "protocol method") if {
	input.kind == "request"
} else := lib.deny("example.protocol.unknown_notification", "unknown notification (outside notifications/*)")
