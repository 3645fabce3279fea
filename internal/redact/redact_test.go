package redact

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// secrets appear in the inputs below and must appear in no output.
var secrets = []string{"SECRETKEY", "hunter2", "pw1", "K2", "s3cr3t", "tok"}

func checkNoSecret(t *testing.T, in, got string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(in, s) && strings.Contains(got, s) {
			t.Errorf("%q\n  -> %q\n  shows %q", in, got, s)
		}
	}
}

func TestURL(t *testing.T) {
	for in, want := range map[string]string{
		"":                                         "",
		"http://127.0.0.1:8545":                    "http://127.0.0.1:8545",
		"http://127.0.0.1:8545/":                   "http://127.0.0.1:8545",
		"https://mainnet.infura.io/v3/SECRETKEY":   "https://mainnet.infura.io/…",
		"https://user:s3cr3t@rpc.example":          "https://rpc.example/…",
		"https://user@rpc.example":                 "https://rpc.example/…",
		"https://rpc.example/?apikey=SECRETKEY":    "https://rpc.example/…",
		"https://rpc.example#tok":                  "https://rpc.example/…",
		"wss://u:pw1@ws.example:8546/ws/SECRETKEY": "wss://ws.example:8546/…",
		"redis://:hunter2@10.0.0.5:6379/0":         "redis://10.0.0.5:6379/…",
		"redis+sentinel://s1:26379,s2:26379/mym":   "redis+sentinel://s1:26379,s2:26379/…",
		"http://[::1]:8545/SECRETKEY":              "http://[::1]:8545/…",
		"http://user:p@ss:hunter2@rpc.example/":    "http://rpc.example/…",
		"not a url with s3cr3t":                    "(not shown)",
		"unix:///var/run/redis.sock?password=tok":  "(not shown)",
		"%zz":                                       "(not shown)",
		"http://h:port/SECRETKEY":                   "(not shown)",
		"HTTPS://RPC.EXAMPLE/V3/SECRETKEY?K2=K2":    "https://RPC.EXAMPLE/…",
		"http://user:%73ecret@rpc.example/?x=%4B2":  "http://rpc.example/…",
		"https://rpc.example/v3/SECRETKEY?apikey=2": "https://rpc.example/…",
	} {
		got := URL(in)
		if got != want {
			t.Errorf("URL(%q) = %q, want %q", in, got, want)
		}
		checkNoSecret(t, in, got)
	}
}

func TestText(t *testing.T) {
	for in, want := range map[string]string{
		// *url.Error as net/http prints it: a quoted URL, the password as ***.
		`asking the endpoint for its chain ID: Post "http://user:***@127.0.0.1:1/v3/SECRETKEY?apikey=K2": dial tcp 127.0.0.1:1: connect: connection refused`: `asking the endpoint for its chain ID: Post "http://127.0.0.1:1/…": dial tcp 127.0.0.1:1: connect: connection refused`,
		// A quoted URL with an escaped quote in it (a parse error) ends at the closing quote, not at the escaped one.
		`parse "http://u:a\"hunter2@h/": net/url: invalid userinfo`:   `parse "http://…": net/url: invalid userinfo`,
		`endpoint https://mainnet.infura.io/v3/SECRETKEY, retrying.`:  `endpoint https://mainnet.infura.io/…, retrying.`,
		`cannot reach https://mainnet.example/v3/SECRETKEY: refused`:  `cannot reach https://mainnet.example/…: refused`,
		`(see http://h.example/SECRETKEY)`:                            `(see http://h.example/…)`,
		`at [http://[::1]:8545/SECRETKEY]`:                            `at [http://[::1]:8545/…]`,
		`redis: open redis://:hunter2@10.0.0.5:6379/0: refused`:       `redis: open redis://10.0.0.5:6379/…: refused`,
		`redis://:xxxxx@a:1/0 and redis+sentinel://u:pw1@s1:1,s2:2/m`: `redis://a:1/… and redis+sentinel://s1:1,s2:2/…`,
		`ws://h:8546/SECRETKEY wss://u:pw1@h/x?token=tok`:             `ws://h:8546/… wss://h/…`,
		`{"error":"rate limit for https://h.example/v3/SECRETKEY"}`:   `{"error":"rate limit for https://h.example/…"}`,
		`{\"url\":\"https://h.example/v3/SECRETKEY\"}`:                `{\"url\":\"https://h.example/…\"}`,
		`<https://h.example/?apikey=SECRETKEY>`:                       `<https://h.example/…>`,
		`bad http://h:port:9/SECRETKEY here`:                          `bad http://… here`,
		"line1 http://h/SECRETKEY\nline2":                             "line1 http://h/…\nline2",
		`already http://127.0.0.1:8545 fine`:                          `already http://127.0.0.1:8545 fine`,
		`no urls here: 127.0.0.1:8545`:                                `no urls here: 127.0.0.1:8545`,
		``:                                                            ``,
	} {
		got := Text(in)
		if got != want {
			t.Errorf("Text(%q)\n  = %q\n want %q", in, got, want)
		}
		checkNoSecret(t, in, got)
	}
}

// TestTextRealErrors runs real clients against an endpoint that is down and
// one that answers 401, and redacts what they say.
func TestTextRealErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close()
	client := &http.Client{Timeout: 5 * time.Second}
	for _, u := range []string{
		"http://user:hunter2@" + down + "/v3/SECRETKEY?apikey=K2",
		"https://" + down + "/SECRETKEY",
	} {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = client.Do(req)
		if err == nil {
			t.Fatalf("%s answered", u)
		}
		if !strings.Contains(err.Error(), "SECRETKEY") {
			t.Fatalf("the client's error no longer shows the URL, the test shows nothing: %v", err)
		}
		red := Error(fmt.Errorf("step: %w", err))
		checkNoSecret(t, err.Error(), red.Error())
		if !strings.Contains(red.Error(), "://"+down+"/…") {
			t.Errorf("the redacted error lost the host: %v", red)
		}
	}
}

func TestError(t *testing.T) {
	if Error(nil) != nil {
		t.Fatal("Error(nil) != nil")
	}
	plain := errors.New("no url here")
	if Error(plain) != plain {
		t.Fatal("an error without a URL was wrapped")
	}
	op := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	ue := &url.Error{Op: "Post", URL: "http://user:***@127.0.0.1:1/v3/SECRETKEY", Err: op}
	err := Error(fmt.Errorf("chain: %w", ue))
	if got, want := err.Error(), `chain: Post "http://127.0.0.1:1/…": dial tcp: connection refused`; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	var gotURL *url.Error
	var gotOp *net.OpError
	if !errors.As(err, &gotURL) || gotURL != ue || !errors.As(err, &gotOp) || gotOp != op || !errors.Is(err, ue) {
		t.Fatal("errors.Is/As do not see the wrapped errors")
	}
	wrapped := fmt.Errorf("outer: %w", err)
	if strings.Contains(wrapped.Error(), "SECRETKEY") {
		t.Fatalf("wrapping the redacted error shows the secret: %v", wrapped)
	}
}

var validScheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.\-]*$`)

// FuzzText: a credential-bearing URL embedded in any text never shows
// its credential.
func FuzzText(f *testing.F) {
	for _, s := range [][2]string{{"", ""}, {`Post "`, `": refused`}, {`\"`, `\"`}, {"(", ")."}, {"a+b.", ""}, {"x://", ""}, {`"`, ""}, {"[", "]"}} {
		f.Add(s[0], s[1], "http", "h.example:1")
	}
	const key = "Zq7kEy"
	f.Fuzz(func(t *testing.T, prefix, suffix, scheme, host string) {
		if strings.Contains(prefix+suffix+scheme+host, "Zq7") || !validScheme.MatchString(scheme) || strings.ContainsFunc(host, terminates) || strings.ContainsAny(host, "/?#@\\") {
			t.Skip()
		}
		for _, u := range []string{
			scheme + "://user:" + key + "@" + host + "/v3/x",
			scheme + "://" + host + "/v3/" + key,
			scheme + "://" + host + "/?apikey=" + key,
			scheme + "://u:***@" + host + "/" + key + "?k=" + key,
		} {
			if got := Text(prefix + u + suffix); strings.Contains(got, key) {
				t.Fatalf("Text(%q) = %q shows the key", prefix+u+suffix, got)
			}
		}
	})
}
