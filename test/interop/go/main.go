// Interop client: the real Go MCP SDK (github.com/modelcontextprotocol/go-sdk) against one MCP
// endpoint.
//
//	interop-go <url> <legacy|2026-07-28> [flows]
//
// flows (comma-separated, default all) picks which of list, call, masked, denial, progress,
// elicitation, cancel run (an upstream without the slow and ask_user tools gets a subset).
//
// Runs every flow the gateway's interop test checks and prints one JSON object per flow on
// stdout ({"flow": ...}), then {"flow": "done"}. It reports what it saw; the test decides what is
// right (through the gateway a result is masked, direct it is not). Every HTTP exchange is
// recorded (method, status, Mcp-Method) so the test can see DELETE and notifications/cancelled.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const secretEmail = "ada@example.com"

func emit(flow string, fields map[string]any) {
	out := map[string]any{"flow": flow}
	for k, v := range fields {
		out[k] = v
	}
	line, _ := json.Marshal(out)
	fmt.Println(string(line))
}

// recorder is an http.RoundTripper that remembers every exchange.
type recorder struct {
	mu   sync.Mutex
	log  []map[string]any
	next http.RoundTripper
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := r.next.RoundTrip(req)
	entry := map[string]any{"method": req.Method, "mcp_method": req.Header.Get("Mcp-Method")}
	if err != nil {
		entry["error"] = err.Error()
	} else {
		entry["status"] = res.StatusCode
	}
	r.mu.Lock()
	r.log = append(r.log, entry)
	r.mu.Unlock()
	return res, err
}

func (r *recorder) entries() []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]map[string]any(nil), r.log...)
}

func texts(res *mcp.CallToolResult) []string {
	out := []string{}
	for _, c := range res.Content {
		if t, ok := c.(*mcp.TextContent); ok {
			out = append(out, t.Text)
		}
	}
	return out
}

// report turns a flow's error into its line: a JSON-RPC error by code and message, anything else as text.
func report(flow string, err error) {
	var rpc *jsonrpc.Error
	if errors.As(err, &rpc) {
		emit(flow, map[string]any{"error": map[string]any{"code": rpc.Code, "message": rpc.Message}})
		return
	}
	emit(flow, map[string]any{"exception": err.Error()})
}

func main() {
	url, mode := os.Args[1], os.Args[2]
	wanted := func(string) bool { return true }
	if len(os.Args) > 3 {
		set := map[string]bool{}
		for _, f := range strings.Split(os.Args[3], ",") {
			set[f] = true
		}
		wanted = func(f string) bool { return set[f] }
	}
	version := "2025-11-25"
	if mode == "2026-07-28" {
		version = "2026-07-28"
	}
	rec := &recorder{next: http.DefaultTransport}
	var progressMu sync.Mutex
	progress := map[any][]float64{}
	elicited := 0
	client := mcp.NewClient(&mcp.Implementation{Name: "portcullis-interop-go", Version: "1"}, &mcp.ClientOptions{
		ElicitationHandler: func(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			elicited++
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"answer": "forty-two"}}, nil
		},
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			progressMu.Lock()
			defer progressMu.Unlock()
			key := fmt.Sprint(req.Params.ProgressToken)
			progress[key] = append(progress[key], req.Params.Progress)
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	transport := &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: &http.Client{Transport: rec}, MaxRetries: -1}
	session, err := client.Connect(ctx, transport, &mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		report("connect", err)
		emit("http", map[string]any{"http": rec.entries()})
		emit("done", nil)
		return
	}
	emit("connect", map[string]any{"protocolVersion": session.InitializeResult().ProtocolVersion})

	call := func(name string, args map[string]any, token any) (*mcp.CallToolResult, error) {
		params := &mcp.CallToolParams{Name: name, Arguments: args}
		if token != nil {
			params.SetProgressToken(token)
		}
		return session.CallTool(ctx, params)
	}

	if !wanted("list") {
	} else if res, err := session.ListTools(ctx, nil); err != nil {
		report("list", err)
	} else {
		names := []string{}
		for _, t := range res.Tools {
			names = append(names, t.Name)
		}
		sort.Strings(names)
		emit("list", map[string]any{"tools": names})
	}
	if !wanted("call") {
	} else if res, err := call("echo", map[string]any{"text": "through the gate"}, nil); err != nil {
		report("call", err)
	} else {
		emit("call", map[string]any{"texts": texts(res)})
	}
	if !wanted("masked") {
	} else if res, err := call("echo", map[string]any{"text": "write to " + secretEmail}, nil); err != nil {
		report("masked", err)
	} else {
		emit("masked", map[string]any{"texts": texts(res)})
	}
	if !wanted("denial") {
	} else if res, err := call("delete_everything", map[string]any{}, nil); err != nil {
		report("denial", err)
	} else {
		emit("denial", map[string]any{"texts": texts(res), "isError": res.IsError})
	}
	if !wanted("progress") {
	} else if res, err := call("slow", map[string]any{"ms": 300, "steps": 3}, "progress-1"); err != nil {
		report("progress", err)
	} else {
		// The SDK hands notifications to the handler asynchronously: the last one may land just
		// after the result. Wait (briefly) for the three the tool sends.
		var seen []float64
		for deadline := time.Now().Add(time.Second); ; time.Sleep(10 * time.Millisecond) {
			progressMu.Lock()
			seen = append([]float64{}, progress["progress-1"]...)
			progressMu.Unlock()
			if len(seen) >= 3 || time.Now().After(deadline) {
				break
			}
		}
		emit("progress", map[string]any{"progress": seen, "texts": texts(res)})
	}
	if !wanted("elicitation") {
	} else if res, err := call("ask_user", map[string]any{"question": "the answer?"}, nil); err != nil {
		report("elicitation", err)
	} else {
		emit("elicitation", map[string]any{"texts": texts(res), "elicited": elicited})
	}

	// Cancellation: cancel the call's context once it reported progress; the SDK sends
	// notifications/cancelled (without _meta in the 2026-07-28 era). Then another call.
	func() {
		if !wanted("cancel") {
			return
		}
		callCtx, stop := context.WithCancel(ctx)
		defer stop()
		done := make(chan error, 1)
		go func() {
			params := &mcp.CallToolParams{Name: "slow", Arguments: map[string]any{"ms": 8000, "steps": 80}}
			params.SetProgressToken("cancel-1")
			_, err := session.CallTool(callCtx, params)
			done <- err
		}()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			progressMu.Lock()
			n := len(progress["cancel-1"])
			progressMu.Unlock()
			if n > 0 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		stop()
		callErr := <-done
		cancelled := callErr != nil && errors.Is(callErr, context.Canceled)
		fields := map[string]any{"cancelled": cancelled}
		if callErr != nil && !cancelled {
			fields["callError"] = callErr.Error()
		}
		time.Sleep(200 * time.Millisecond) // let the cancellation notification be answered
		if res, err := call("echo", map[string]any{"text": "after cancel"}, nil); err != nil {
			fields["afterError"] = err.Error()
		} else {
			fields["after"] = texts(res)
		}
		emit("cancel", fields)
	}()

	emit("http-before-close", map[string]any{"http": rec.entries()})
	closeErr := session.Close()
	statuses := []any{}
	for _, e := range rec.entries() {
		if e["method"] == "DELETE" {
			statuses = append(statuses, e["status"])
		}
	}
	fields := map[string]any{"statuses": statuses}
	if closeErr != nil {
		fields["closeError"] = closeErr.Error()
	}
	emit("delete", fields)
	emit("http", map[string]any{"http": rec.entries()})
	emit("done", nil)
}
