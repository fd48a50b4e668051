package portcullis.calls_test

import data.mcp
import data.portcullis.testing

# METADATA
# description: Calls, list items and call responses, with the decision each must get.
cases := {
	# Read-only tools, prompts and resources: engineering and support.
	"read-only tool, engineering": {
		"input": testing.call("get_order_status", ["engineering"]),
		"allow": true,
		"rule_ids": ["example.calls.read_only.allowed"],
	},
	"read-only tool, support": {
		"input": testing.call("search_orders", ["support"]),
		"allow": true,
		"rule_ids": ["example.calls.read_only.allowed"],
	},
	"read-only tool, several groups": {
		"input": testing.call("list_customers", ["finance", "support"]),
		"allow": true,
		"rule_ids": ["example.calls.read_only.allowed"],
	},
	"read-only tool, no groups": {
		"input": testing.call("list_customers", []),
		"allow": false,
		"rule_ids": ["example.calls.read_only.denied"],
	},
	"read-only tool, truncated arguments": {
		"input": testing.message({"name": "search_orders", "truncated": true, "subject": testing.subject(["support"])}),
		"allow": true,
		"rule_ids": ["example.calls.read_only.allowed"],
	},
	"masked tool, engineering": {
		"input": testing.call("get_customer", ["engineering"]),
		"allow": true,
		"rule_ids": ["example.calls.read_only.allowed", "example.mask.customer_record"],
	},
	"masked tool, no groups": {
		"input": testing.call("get_customer", []),
		"allow": false,
		"rule_ids": ["example.calls.read_only.denied"],
	},
	"prompt, engineering": {
		"input": testing.message({
			"method": "prompts/get",
			"name": "incident_summary",
			"subject": testing.subject(["engineering"]),
		}),
		"allow": true,
		"rule_ids": ["example.calls.read_only.allowed"],
	},
	"resource, support": {
		"input": testing.message({
			"method": "resources/read",
			"name": "demo://docs/runbook",
			"subject": testing.subject(["support"]),
		}),
		"allow": true,
		"rule_ids": ["example.calls.read_only.allowed"],
	},
	"resource, no groups": {
		"input": testing.message({"method": "resources/read", "name": "demo://docs/runbook"}),
		"allow": false,
		"rule_ids": ["example.calls.read_only.denied"],
	},
	# Destructive tools: admins only, never with arguments the policy could not inspect.
	"destructive tool, admins": {
		"input": testing.call("delete_customer", ["admins"]),
		"allow": true,
		"rule_ids": ["example.calls.destructive.allowed"],
	},
	"destructive tool, engineering": {
		"input": testing.call("delete_customer", ["engineering"]),
		"allow": false,
		"rule_ids": ["example.calls.destructive.denied"],
	},
	"destructive tool, admins, truncated arguments": {
		"input": testing.message({"name": "refund_order", "truncated": true, "subject": testing.subject(["admins"])}),
		"allow": false,
		"rule_ids": ["example.calls.destructive.truncated"],
	},
	# High-risk tools: admins after approval (run_sql: engineering too, its own allow_groups), nobody else.
	"high-risk tool, admins": {
		"input": testing.call("run_shell", ["admins"]),
		"allow": true,
		"rule_ids": ["example.calls.high_risk.approval", "example.mask.high_risk_arguments"],
	},
	"high-risk sql, admins": {
		"input": testing.call("run_sql", ["engineering", "admins"]),
		"allow": true,
		"rule_ids": ["example.calls.high_risk.approval", "example.mask.high_risk_arguments"],
	},
	"high-risk sql, engineering after approval (the tool's own allow_groups)": {
		"input": testing.call("run_sql", ["engineering"]),
		"allow": true,
		"rule_ids": ["example.calls.high_risk.approval", "example.mask.high_risk_arguments"],
	},
	"high-risk tool, engineering": {
		"input": testing.call("run_shell", ["engineering"]),
		"allow": false,
		"rule_ids": ["example.calls.high_risk.denied"],
	},
	"high-risk tool, sre approvers cannot call": {
		"input": testing.call("run_shell", ["sre"]),
		"allow": false,
		"rule_ids": ["example.calls.high_risk.denied"],
	},
	"high-risk tool, admins, truncated arguments": {
		"input": testing.message({"name": "run_shell", "truncated": true, "subject": testing.subject(["admins"])}),
		"allow": false,
		"rule_ids": ["example.calls.high_risk.truncated"],
	},
	# Whatever is not in the catalog is denied, whoever asks.
	"unknown tool, admins": {
		"input": testing.call("drop_database", ["admins"]),
		"allow": false,
		"rule_ids": ["example.calls.unknown"],
	},
	"unknown prompt": {
		"input": testing.message({
			"method": "prompts/get",
			"name": "leak_everything",
			"subject": testing.subject(["engineering"]),
		}),
		"allow": false,
		"rule_ids": ["example.calls.unknown"],
	},
	"unknown resource": {
		"input": testing.message({
			"method": "resources/read",
			"name": "file:///etc/passwd",
			"subject": testing.subject(["admins"]),
		}),
		"allow": false,
		"rule_ids": ["example.calls.unknown"],
	},
	# list_item: the same rules decide what a list shows (allowed or approval-gated entries).
	"list item, read-only tool, support": {
		"input": object.union(testing.call("get_customer", ["support"]), {"kind": "list_item"}),
		"allow": true,
		"rule_ids": ["example.calls.read_only.allowed"],
	},
	"list item, destructive tool, engineering": {
		"input": object.union(testing.call("refund_order", ["engineering"]), {"kind": "list_item"}),
		"allow": false,
		"rule_ids": ["example.calls.destructive.denied"],
	},
	"list item, high-risk tool, admins": {
		"input": object.union(testing.call("run_shell", ["admins"]), {"kind": "list_item"}),
		"allow": true,
		"rule_ids": ["example.calls.high_risk.approval"],
	},
	"list item, unknown tool": {
		"input": object.union(testing.call("drop_database", ["admins"]), {"kind": "list_item"}),
		"allow": false,
		"rule_ids": ["example.calls.unknown"],
	},
	"list item, prompt, server-to-client direction": {
		"input": testing.message({
			"kind": "list_item", "direction": "server_to_client", "method": "prompts/get",
			"name": "incident_summary", "subject": testing.subject(["engineering"]),
		}),
		"allow": true,
		"rule_ids": ["example.calls.read_only.allowed"],
	},
	"list item, resource template entry": {
		"input": testing.message({"kind": "list_item", "method": "resources/read", "name": "demo://customers/{id}"}),
		"allow": false,
		"rule_ids": ["example.calls.unknown"],
	},
	# Responses to calls pass; a masked tool's response carries its mask again.
	"response to a masked tool": {
		"input": testing.message({"direction": "server_to_client", "kind": "response", "name": "get_customer"}),
		"allow": true,
		"rule_ids": ["example.calls.response", "example.mask.customer_record"],
	},
	"response to another tool": {
		"input": testing.message({"direction": "server_to_client", "kind": "response", "name": "search_orders"}),
		"allow": true,
		"rule_ids": ["example.calls.response"],
	},
}

test_calls[note] if {
	some note, tc in cases
	decision := data.portcullis.decision with input as tc.input
	decision.allow == tc.allow
	decision.rule_ids == tc.rule_ids
}

test_reasons_name_the_class_and_the_groups_never_the_input if {
	allowed := data.portcullis.decision with input as testing.call("get_order_status", ["support"])
	allowed.reasons == ["the tool is read-only: open to engineering, support"]

	denied := data.portcullis.decision with input as testing.call("delete_customer", ["engineering"])
	denied.reasons == ["the tool is destructive: requires one of the groups admins"]

	truncated := data.portcullis.decision with input as testing.message({"name": "refund_order", "truncated": true})
	truncated.reasons == ["the tool is destructive and its arguments were too large to inspect: denied"]

	unknown := data.portcullis.decision with input as testing.message({"method": "prompts/get", "name": "nope"})
	unknown.reasons == ["the prompt is not in the policy catalog: denied by default"]
}

test_get_customer_results_are_masked if {
	decision := data.portcullis.decision with input as testing.call("get_customer", ["engineering"])
	decision.mask_mode == "strict"
	decision.reasons[1] == "results of the tool are masked (customer_record)"

	# Secrets by key name, wherever they are in the result.
	{"key": "*password*", "style": "marker"} in decision.mask
	{"key": "*secret*", "style": "marker"} in decision.mask
	{"key": "*token*", "style": "last", "keep": 4} in decision.mask

	# Identity and billing fields of the demo's customer record, by path.
	{"path": "structuredContent.customer.ssn", "style": "marker"} in decision.mask
	{"path": "structuredContent.customer.billing.card_number", "style": "last", "keep": 4} in decision.mask
	{"path": "structuredContent.customer.billing.card_cvc", "style": "marker"} in decision.mask

	# Personal data by content, wherever it appears (text content too).
	{"detector": "email", "style": "hash"} in decision.mask
	{"detector": "credit_card", "style": "last", "keep": 4} in decision.mask

	# API keys by a key pattern that also matches camelCase names.
	some api_key in decision.mask
	regex.match(api_key.key_regex, "stripe_api_key")
	regex.match(api_key.key_regex, "apiKey")
}

test_masked_tool_response_carries_the_same_mask if {
	request := data.portcullis.decision with input as testing.call("get_customer", ["engineering"])
	response := data.portcullis.decision with input as testing.message({"kind": "response", "name": "get_customer"})
	response.mask == request.mask
	response.mask_mode == "strict"
}

test_list_items_carry_no_mask if {
	list_item := object.union(testing.call("get_customer", ["engineering"]), {"kind": "list_item"})
	decision := data.portcullis.decision with input as list_item
	decision.allow
	not "mask" in object.keys(decision)
}

test_other_tools_carry_no_mask if {
	decision := data.portcullis.decision with input as testing.call("search_orders", ["engineering"])
	not "mask" in object.keys(decision)
	not "approval" in object.keys(decision)
}

test_run_shell_requires_approval_by_sre if {
	decision := data.portcullis.decision with input as testing.call("run_shell", ["admins"])
	decision.allow == true
	decision.approval == {
		"required": true,
		"approvers": {"groups": ["sre", "dba"], "count": 1},
		"reason": "shell access on the demo host",
		"ttl_seconds": 900,
	}
	decision.reasons == [
		"the tool is high-risk: allowed for admins once approved by sre, dba",
		"results of the tool are masked (high_risk_arguments)",
	]
	decision.mask == mcp.masks.high_risk_arguments.instructions
}

test_approval_without_a_mask if {
	decision := data.portcullis.decision with input as testing.call("run_sql", ["admins"])
		with mcp.tools.run_sql as {"class": "high_risk"}
	decision.rule_ids == ["example.calls.high_risk.approval"]
	not "mask" in object.keys(decision)
}

test_approval_reason_defaults_to_the_class_and_tool if {
	decision := data.portcullis.decision with input as testing.call("run_sql", ["admins"])
		with mcp.tools.run_sql as {"class": "high_risk"}
	decision.approval.reason == "high-risk tool"
}

test_class_open_to_anyone if {
	decision := data.portcullis.decision with input as testing.call("get_order_status", [])
		with mcp.classes.read_only.allow_groups as ["*"]
	decision.allow
	decision.reasons == ["the tool is read-only: open to anyone"]
}

test_tool_with_undefined_class_is_denied if {
	decision := data.portcullis.decision with input as testing.call("get_order_status", ["engineering"])
		with mcp.tools.get_order_status as {"class": "read_mostly"}
	decision.allow == false
	decision.rule_ids == ["example.calls.unknown_class"]
	decision.reasons == ["the tool has class \"read_mostly\", which the policy does not define: denied"]
}

# The catalog is data: check it is consistent, so a typo in data.json fails the tests.
test_catalog_entries_have_defined_classes[name] if {
	some catalog in ["tools", "prompts", "resources"]
	some key, entry in mcp[catalog]
	name := concat(" ", [catalog, key])
	mcp.classes[entry.class]
}

test_catalog_masks_are_defined[name] if {
	profiles := {tool_name: tool.mask | some tool_name, tool in mcp.tools; tool.mask}
	some name, profile in profiles
	count(mcp.masks[profile].instructions) > 0
}

test_classes_name_groups[name] if {
	some name, class in mcp.classes
	count(class.allow_groups) > 0
	is_string(class.label)
}

# Reasons reach the client, spans and decision logs verbatim: a name the caller chose is never in them.
test_reasons_quote_no_input if {
	named := testing.message({"method": "resources/read", "name": "test://x/ada@example.com"})
	unknown := data.portcullis.decision with input as named
	count(unknown.reasons) > 0
	every reason in unknown.reasons {
		not contains(reason, "ada@example.com")
	}
}
