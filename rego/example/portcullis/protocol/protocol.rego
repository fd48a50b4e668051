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

# METADATA
# description: The decision for a protocol message; total when `applies` holds.
decision := lib.allow("example.protocol.response", concat("", ["response to ", _method])) if {
	input.kind == "response"
} else := lib.allow("example.protocol.notification", concat("", [input.method, " notification"])) if {
	input.kind == "notification"
	startswith(input.method, "notifications/")
} else := lib.allow("example.protocol.method", concat("", ["protocol method ", input.method])) if {
	input.kind == "request"
} else := lib.deny("example.protocol.unknown_notification", concat("", ["unknown notification ", _method]))

# The gateway sends method "" for a response whose request it does not know.
_method := input.method if input.method != ""

_method := "(unknown method)" if input.method == ""
