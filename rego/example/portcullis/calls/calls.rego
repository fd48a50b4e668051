# METADATA
# description: |
#   Calls: tools/call, prompts/get and resources/read requests from the client, the list_item
#   questions the gateway asks to filter list results (a hypothetical call with empty arguments,
#   see docs/policy-contract.md), and the responses to calls. Tools, prompts and resources are
#   looked up by name in data.mcp and governed by their class, so teams edit data.json, not Rego.
package portcullis.calls

import data.mcp
import data.portcullis.lib

# METADATA
# description: True when this package decides the message.
# scope: document
applies if {
	input.kind == "list_item"
	_catalog
}

applies if {
	input.kind == "request"
	input.direction == "client_to_server"
	_catalog
}

applies if {
	input.kind == "response"
	_catalog
}

# METADATA
# description: |
#   The decision for a call, list item or call response. Total when `applies` holds: every
#   path ends in a decision with a rule id and a reason.
decision := _response if {
	input.kind == "response"
} else := _unknown if {
	not _entry
} else := _unknown_class if {
	not _class
} else := _truncated if {
	input.truncated == true
	_class.deny_truncated == true
} else := _denied if {
	not lib.member_of(input.subject.groups, _allow_groups)
} else := _approval if {
	_class.approval
} else := _allowed

_catalog := "tools" if input.method == "tools/call"

_catalog := "prompts" if input.method == "prompts/get"

_catalog := "resources" if input.method == "resources/read"

# "tool", "prompt" or "resource": used in reasons.
_noun := trim_suffix(_catalog, "s")

_entry := mcp[_catalog][input.name]

_class := mcp.classes[_entry.class]

# Who may make the call: the tool's own `allow_groups` where it has them, else its class's.
_allow_groups := object.get(_entry, "allow_groups", _class.allow_groups)

# The subject of every reason, e.g. `the tool`. Reasons go to the client, spans and decision logs
# verbatim, so they never quote input: the name (or URI) is the decision record's, masked.
_what := concat("", ["the ", _noun])

_rule_id(outcome) := concat("", ["example.calls.", _entry.class, ".", outcome])

# Masking applies to what flows back to the client, so list items carry none.
_mask := mcp.masks[_entry.mask] if input.kind != "list_item"

_mask_rule_id := concat("", ["example.mask.", _entry.mask])

_mask_reason := concat("", ["results of ", _what, " are masked (", _entry.mask, ")"])

_unknown := lib.deny(
	"example.calls.unknown",
	concat("", [_what, " is not in the policy catalog: denied by default"]),
)

_unknown_class := lib.deny(
	"example.calls.unknown_class",
	concat("", [_what, " has class \"", _entry.class, "\", which the policy does not define: denied"]),
)

_truncated := lib.deny(
	_rule_id("truncated"),
	concat("", [_what, " is ", _class.label, " and its arguments were too large to inspect: denied"]),
)

_denied := lib.deny(
	_rule_id("denied"),
	concat("", [_what, " is ", _class.label, ": requires one of the groups ", lib.describe_groups(_allow_groups)]),
)

_approval_reason := concat("", [
	_what, " is ", _class.label, ": allowed for ", lib.describe_groups(_allow_groups),
	" once approved by ", lib.describe_groups(_class.approval.approvers.groups),
])

_approval_obligation := {
	"required": true,
	"approvers": _class.approval.approvers,
	"reason": object.get(_entry, "approval_reason", concat("", [_class.label, " ", _noun])),
	"ttl_seconds": _class.approval.ttl_seconds,
}

_approval := {
	"allow": true,
	"reasons": [_approval_reason],
	"rule_ids": [_rule_id("approval")],
	"approval": _approval_obligation,
} if {
	not _mask
}

# The mask hides secrets in the arguments approvers see (and in the call's result).
_approval := {
	"allow": true,
	"reasons": [_approval_reason, _mask_reason],
	"rule_ids": [_rule_id("approval"), _mask_rule_id],
	"approval": _approval_obligation,
	"mask": _mask.instructions,
	"mask_mode": _mask.mode,
} if {
	_mask
}

_allowed_reason := concat("", [_what, " is ", _class.label, ": open to ", lib.describe_groups(_allow_groups)])

_allowed := lib.allow(_rule_id("allowed"), _allowed_reason) if not _mask

_allowed := {
	"allow": true,
	"reasons": [_allowed_reason, _mask_reason],
	"rule_ids": [_rule_id("allowed"), _mask_rule_id],
	"mask": _mask.instructions,
	"mask_mode": _mask.mode,
} if {
	_mask
}

# Responses pass: the request was decided already. A response to a masked tool carries the
# tool's mask again, so masking does not depend on which of the two decisions the gateway applies.
_response := lib.allow("example.calls.response", "response to a call") if not _mask

_response := {
	"allow": true,
	"reasons": ["response to a call", _mask_reason],
	"rule_ids": ["example.calls.response", _mask_rule_id],
	"mask": _mask.instructions,
	"mask_mode": _mask.mode,
} if {
	_mask
}
