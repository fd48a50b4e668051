package portcullis_test

import data.portcullis
import data.portcullis.approvals_test
import data.portcullis.calls_test
import data.portcullis.protocol_test
import data.portcullis.server_requests_test
import data.portcullis.testing

# Routing fallbacks of the entrypoint itself.
cases := {
	"unsupported contract version": {
		"input": testing.message({
			"contract": "portcullis/v2",
			"name": "get_order_status",
			"subject": testing.subject(["engineering"]),
		}),
		"allow": false,
		"rule_ids": ["example.contract.unsupported"],
	},
	"missing contract": {
		"input": object.remove(testing.call("get_order_status", ["engineering"]), ["contract"]),
		"allow": false,
		"rule_ids": ["example.contract.unsupported"],
	},
	"unknown client request method": {
		"input": testing.message({"method": "resources/subscribe", "params": {"uri": "demo://docs/runbook"}}),
		"allow": false,
		"rule_ids": ["example.method.unknown"],
	},
	"tools/call sent by the server": {
		"input": testing.message({
			"direction": "server_to_client",
			"name": "run_shell",
			"subject": testing.subject(["admins"]),
		}),
		"allow": false,
		"rule_ids": ["example.method.unknown"],
	},
}

test_routing[note] if {
	some note, tc in cases
	decision := portcullis.decision with input as tc.input
	decision.allow == tc.allow
	decision.rule_ids == tc.rule_ids
}

test_unsupported_contract_reason if {
	decision := portcullis.decision with input as testing.message({"contract": "portcullis/v2"})
	decision.reasons == ["this policy implements contract portcullis/v1, the input declares \"portcullis/v2\""]
}

test_unknown_method_reason if {
	decision := portcullis.decision with input as testing.message({"method": "tasks/get"})
	decision.reasons == ["this method (client_to_server request) is not allowed by this policy"]
}

# Every decision of every table, allowed or denied, has a rule id and a reason for audit.
test_every_decision_explains_itself[note] if {
	tables := {
		"routing": cases,
		"calls": calls_test.cases,
		"approvals": approvals_test.cases,
		"server requests": server_requests_test.cases,
		"protocol": protocol_test.cases,
	}
	some table_name, table in tables
	some case_name, tc in table
	note := concat(": ", [table_name, case_name])
	decision := portcullis.decision with input as tc.input
	is_boolean(decision.allow)
	count(decision.reasons) == count(decision.rule_ids)
	count(decision.rule_ids) > 0
	every reason in decision.reasons {
		reason != ""
	}
}
