package portcullis.protocol_test

import data.portcullis.testing

_request(method) := {
	"input": testing.message({"method": method}),
	"allow": true,
	"rule_ids": ["example.protocol.method"],
}

# METADATA
# description: Protocol messages, with the decision each must get.
cases := {
	"initialize": _request("initialize"),
	"ping": _request("ping"),
	"server/discover": _request("server/discover"),
	"tools/list": _request("tools/list"),
	"prompts/list": _request("prompts/list"),
	"resources/list": _request("resources/list"),
	"resources/templates/list": _request("resources/templates/list"),
	"completion/complete": _request("completion/complete"),
	"logging/setLevel": _request("logging/setLevel"),
	"client notification": {
		"input": testing.message({"kind": "notification", "method": "notifications/initialized"}),
		"allow": true,
		"rule_ids": ["example.protocol.notification"],
	},
	"server notification": {
		"input": testing.message({
			"kind": "notification",
			"direction": "server_to_client",
			"method": "notifications/progress",
		}),
		"allow": true,
		"rule_ids": ["example.protocol.notification"],
	},
	"notification outside notifications/": {
		"input": testing.message({"kind": "notification", "method": "initialized"}),
		"allow": false,
		"rule_ids": ["example.protocol.unknown_notification"],
	},
	"client response to sampling": {
		"input": testing.message({"kind": "response", "method": "sampling/createMessage"}),
		"allow": true,
		"rule_ids": ["example.protocol.response"],
	},
	"response to an unknown request": {
		"input": testing.message({"kind": "response", "direction": "server_to_client", "method": ""}),
		"allow": true,
		"rule_ids": ["example.protocol.response"],
	},
	"resources/subscribe is not a protocol method": {
		"input": testing.message({"method": "resources/subscribe"}),
		"allow": false,
		"rule_ids": ["example.method.unknown"],
	},
}

test_protocol[note] if {
	some note, tc in cases
	decision := data.portcullis.decision with input as tc.input
	decision.allow == tc.allow
	decision.rule_ids == tc.rule_ids
}

test_reasons if {
	response := data.portcullis.decision with input as testing.message({"kind": "response", "method": ""})
	response.reasons == ["response to a request"]

	unknown := testing.message({"kind": "notification", "method": "initialized"})
	notification := data.portcullis.decision with input as unknown
	notification.reasons == ["unknown notification (outside notifications/*)"]

	method := data.portcullis.decision with input as testing.message({"method": "ping"})
	method.reasons == ["protocol method"]
}
