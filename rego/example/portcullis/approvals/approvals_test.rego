package portcullis.approvals_test

import data.mcp
import data.portcullis.testing

_sre := object.union(
	testing.subject(["sre"]),
	{"type": "user", "authenticated": true, "issuer": "https://idp", "sub": "sam"},
)

_dba := object.union(_sre, {"sub": "dan", "groups": ["dba"]})

# METADATA
# description: A vote by `subject` on a held call of tool `name`, requested by rita.
vote(name, subject) := testing.message({
	"kind": "approval",
	"name": name,
	"subject": subject,
	"params": {"approval": {"requester": {"issuer": "https://idp", "sub": "rita"}}},
})

# METADATA
# description: Votes, with the decision each must get.
cases := {
	"sre approves run_shell": {"input": vote("run_shell", _sre), "allow": true, "rule_ids": ["example.approvals.allowed"]},
	"sre approves run_sql": {"input": vote("run_sql", _sre), "allow": true, "rule_ids": ["example.approvals.allowed"]},
	"dba approves run_sql": {"input": vote("run_sql", _dba), "allow": true, "rule_ids": ["example.approvals.allowed"]},
	"dba may not approve run_shell": {
		"input": vote("run_shell", _dba),
		"allow": false,
		"rule_ids": ["example.approvals.not_approver"],
	},
	"a service may not approve": {
		"input": vote("run_shell", object.union(_sre, {"type": "service"})),
		"allow": false,
		"rule_ids": ["example.approvals.not_a_person"],
	},
	"the requester may not approve": {
		"input": vote("run_shell", object.union(_sre, {"sub": "rita"})),
		"allow": false,
		"rule_ids": ["example.approvals.own_request"],
	},
	"same sub at another issuer is someone else": {
		"input": vote("run_shell", object.union(_sre, {"sub": "rita", "issuer": "https://other"})),
		"allow": true,
		"rule_ids": ["example.approvals.allowed"],
	},
	"unknown tool": {"input": vote("format_disk", _sre), "allow": false, "rule_ids": ["example.approvals.unknown"]},
	"not a tool call": {
		"input": object.union(vote("demo://docs/runbook", _sre), {"method": "resources/read"}),
		"allow": false,
		"rule_ids": ["example.approvals.not_a_tool"],
	},
}

test_votes[note] if {
	some note, tc in cases
	decision := data.portcullis.decision with input as tc.input
	decision.allow == tc.allow
	decision.rule_ids == tc.rule_ids
}

test_reasons_name_who_may_approve if {
	decision := data.portcullis.decision with input as vote("run_shell", _dba)
	decision.reasons == ["the tool: only sre may approve"]
}

test_class_without_approvers_lets_nobody_approve if {
	decision := data.portcullis.decision with input as vote("delete_customer", _sre)
	decision.allow == false
	decision.reasons == ["the tool: only  may approve"]
}

test_tool_groups_override_the_class if {
	decision := data.portcullis.decision with input as vote("run_shell", _dba)
		with mcp.tools.run_shell.approve_groups as ["dba"]
	decision.allow
}
