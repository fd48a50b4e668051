# METADATA
# description: |
#   Requests the upstream server sends to the client (direction "server_to_client", kind
#   "request"): roots/list, sampling/createMessage, elicitation/create, and the inputRequests of
#   a 2026-07-28 input_required result. Which groups may receive each one is data
#   (data.mcp.server_requests); this package adds the elicitation URL check.
package portcullis.server_requests

import data.mcp
import data.portcullis.lib

# METADATA
# description: True when this package decides the message.
applies if {
	input.direction == "server_to_client"
	input.kind == "request"
	_entry
}

# METADATA
# description: The decision for a server-to-client request; total when `applies` holds.
decision := _url_refused if {
	input.params.mode == "url"
	not _url_allowed
} else := _denied if {
	not lib.member_of(input.subject.groups, _entry.allow_groups)
} else := lib.allow(
	_rule_id("allowed"),
	concat("", ["server request ", _entry.id, " is allowed for ", lib.describe_groups(_entry.allow_groups)]),
)

_entry := mcp.server_requests[input.method]

_rule_id(outcome) := concat("", ["example.server.", _entry.id, ".", outcome])

# URL-mode elicitation sends the user to a URL: only to the prefixes the entry lists (https).
_url_allowed if {
	some prefix in _entry.url_prefixes
	startswith(input.params.url, prefix)
}

_url_refused := lib.deny(
	_rule_id("url_refused"),
	concat("", [
		"server request ", _entry.id, " in url mode is only allowed to URLs starting with ",
		concat(" or ", object.get(_entry, "url_prefixes", [])),
	]),
)

_denied := lib.deny(
	_rule_id("denied"),
	concat("", ["server request ", _entry.id, " requires one of the groups ", lib.describe_groups(_entry.allow_groups)]),
)
