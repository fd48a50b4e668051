package portcullis.lib_test

import data.portcullis.lib

test_member_of if {
	lib.member_of(["support"], ["engineering", "support"])
	lib.member_of([], ["*"])
	not lib.member_of([], ["engineering"])
	not lib.member_of(["sre"], ["admins"])
}

test_describe_groups if {
	lib.describe_groups(["engineering", "support"]) == "engineering, support"
	lib.describe_groups(["*"]) == "anyone"
}

test_decision_shapes if {
	lib.allow("a.b", "why") == {"allow": true, "reasons": ["why"], "rule_ids": ["a.b"]}
	lib.deny("a.c", "why not") == {"allow": false, "reasons": ["why not"], "rule_ids": ["a.c"]}
}
