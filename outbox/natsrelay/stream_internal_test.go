package natsrelay

import "testing"

func TestCovers(t *testing.T) {
	for _, tt := range []struct {
		filter, sub string
		want        bool
	}{
		{"paygate.events.>", "paygate.events.>", true},
		{"paygate.>", "paygate.events.>", true},
		{">", "paygate.events.>", true},
		{"paygate.*.>", "paygate.events.>", true},
		{"*.events.>", "paygate.events.>", true},
		{"paygate.events.*", "paygate.events.>", false}, // one token, not all that follow
		{"paygate.events.ORDER_CREATED", "paygate.events.>", false},
		{"paygate.events", "paygate.events.>", false},
		{"paygate.events.>", "paygate.events", false},
		{"paygate.other.>", "paygate.events.>", false},
		{"paygate.events.x.>", "paygate.events.>", false},
		{"a.*", "a.b", true},
		{"a.b", "a.*", false},
		{"a.b", "a.b", true},
	} {
		if got := covers(tt.filter, tt.sub); got != tt.want {
			t.Errorf("covers(%q, %q) = %t, want %t", tt.filter, tt.sub, got, tt.want)
		}
	}
}

func TestValidNames(t *testing.T) {
	for s, want := range map[string]bool{"PAYGATE_EVENTS": true, "a-b_9": true, "": false, "a.b": false, "a b": false, "a/b": false, "a*": false} {
		if got := validStreamName(s); got != want {
			t.Errorf("validStreamName(%q) = %t, want %t", s, got, want)
		}
	}
	for s, want := range map[string]bool{"paygate.events": true, "p": true, "shop-1.이벤트": true, "": false, "a..b": false, ".a": false, "a.": false, "a.*": false, "a.>": false, "a b": false, "a\tb": false, "a>b": false} {
		if got := validPrefix(s); got != want {
			t.Errorf("validPrefix(%q) = %t, want %t", s, got, want)
		}
	}
}
