# METADATA
# description: |
#   Votes on held calls (kind "approval", docs/policy-contract.md): the approver is the subject,
#   the pending call is method/name/arguments (masked), and params.approval describes the request
#   (requester, gates, votes so far). The gateway already refuses self-approval and approvers
#   outside every gate; this package says who, among those, may approve which tool: a tool's
#   approve_groups, else its class's (only sre may approve run_shell; sre or dba run_sql).
package portcullis.approvals

import data.mcp
import data.portcullis.lib

# METADATA
# description: True when this package decides the message.
applies if input.kind == "approval"

# METADATA
# description: The decision on one vote; total when `applies` holds.
decision := _not_a_tool if {
	input.method != "tools/call"
} else := _unknown if {
	not _entry
} else := _not_a_person if {
	input.subject.type != "user"
} else := _own_request if {
	_is_requester
} else := _not_approver if {
	not lib.member_of(input.subject.groups, _approve_groups)
} else := lib.allow(
	"example.approvals.allowed",
	concat("", [_what, ": ", lib.describe_groups(_approve_groups), " may approve"]),
)

_entry := mcp.tools[input.name]

# Reasons never quote input (they reach the client and the audit trail verbatim).
_what := "the tool"

_approve_groups := _entry.approve_groups

_approve_groups := mcp.classes[_entry.class].approve_groups if not _entry.approve_groups

_approve_groups := [] if {
	not _entry.approve_groups
	not mcp.classes[_entry.class].approve_groups
}

_is_requester if {
	requester := input.params.approval.requester
	requester.issuer == input.subject.issuer
	requester.sub == input.subject.sub
}

_not_a_tool := lib.deny(
	"example.approvals.not_a_tool",
	"approvals are only for tools/call",
)

_unknown := lib.deny("example.approvals.unknown", "the tool is not in the policy catalog: nobody may approve it")

_not_a_person := lib.deny(
	"example.approvals.not_a_person",
	concat("", ["only people approve: the approver is a ", input.subject.type]),
)

_own_request := lib.deny("example.approvals.own_request", "nobody approves their own request")

_not_approver := lib.deny(
	"example.approvals.not_approver",
	concat("", [_what, ": only ", lib.describe_groups(_approve_groups), " may approve"]),
)
