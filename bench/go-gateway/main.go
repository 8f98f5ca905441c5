// The balance gateway as Go users write it first: for each page, a goroutine per downstream
// call under its own context timeout, a sync.WaitGroup, and a channel for the results, under
// the page's own deadline. It is the Go peer of runner-example's gateway in
// scripts/http_bench.sh: the same route, JSON, statuses, timeouts (200 ms for the wallet, 150
// ms for the card, 300 ms for the page) and deadline header, over the same downstream
// services. Only the standard library.
//
//	go run . -listen 127.0.0.1:19184 -wallet http://127.0.0.1:19180 -scratch http://127.0.0.1:19181
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

const (
	balanceTimeout = 200 * time.Millisecond
	cardTimeout    = 150 * time.Millisecond
	pageDeadline   = 300 * time.Millisecond
	deadlineHeader = "x-request-deadline-ms"
)

type balance struct {
	AmountMinor int64  `json:"amount_minor"`
	Currency    string `json:"currency"`
}

type walletBalance struct {
	UserID      uint64 `json:"user_id"`
	AmountMinor int64  `json:"amount_minor"`
	Currency    string `json:"currency"`
}

type scratchCard struct {
	UserID  uint64  `json:"user_id"`
	CardID  string  `json:"card_id"`
	Prize   balance `json:"prize"`
	Message string  `json:"message"`
}

type degraded struct {
	Task   string `json:"task"`
	Reason string `json:"reason"`
}

type page struct {
	UserID      uint64       `json:"user_id"`
	Balance     balance      `json:"balance"`
	ScratchCard *scratchCard `json:"scratch_card"`
	Degraded    []degraded   `json:"degraded"`
}

type apiError struct {
	Error  string `json:"error"`
	Detail string `json:"detail"`
}

// What one downstream call gave: its value or why it has none.
type result struct {
	task    string
	balance balance
	card    *scratchCard
	status  int    // for the wallet: the gateway's status when it failed
	code    string // the error code, or the degraded reason
	err     error
}

type gateway struct {
	client     *http.Client
	walletURL  string
	scratchURL string
}

func main() {
	listen := flag.String("listen", "127.0.0.1:19184", "where the gateway listens")
	wallet := flag.String("wallet", "http://127.0.0.1:8081", "the wallet service's base URL")
	scratch := flag.String("scratch", "http://127.0.0.1:8082", "the scratch-card service's base URL")
	flag.Parse()
	transport := &http.Transport{
		Proxy:               nil,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     60 * time.Second,
		DialContext:         (&net.Dialer{Timeout: time.Second}).DialContext,
	}
	g := &gateway{client: &http.Client{Transport: transport}, walletURL: *wallet, scratchURL: *scratch}
	mux := http.NewServeMux()
	mux.HandleFunc("/get_balance", g.getBalance)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"}, "")
	})
	log.Printf("go gateway listening on %s", *listen)
	log.Fatal(http.ListenAndServe(*listen, mux))
}

func (g *gateway) getBalance(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeJSON(w, http.StatusMethodNotAllowed, apiError{"method_not_allowed", "this route does not take that method"}, "")
		return
	}
	userID, bad := userIDFromQuery(r.URL.RawQuery)
	if bad != nil {
		writeJSON(w, http.StatusBadRequest, bad, "")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), pageDeadline)
	defer cancel()

	results := make(chan result, 2)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		results <- g.fetchBalance(ctx, userID)
	}()
	go func() {
		defer wg.Done()
		results <- g.fetchCard(ctx, userID)
	}()
	go func() {
		wg.Wait()
		close(results)
	}()

	out := page{UserID: userID, Degraded: []degraded{}}
	for res := range results {
		switch res.task {
		case "get_balance":
			if res.err != nil {
				// The balance is critical: fail at once; the card call is cancelled.
				cancel()
				writeJSON(w, res.status, apiError{res.code, res.err.Error()}, "")
				return
			}
			out.Balance = res.balance
		case "get_scratch_card":
			if res.err != nil {
				out.Degraded = append(out.Degraded, degraded{"get_scratch_card", res.code})
			} else {
				out.ScratchCard = res.card
			}
		}
	}
	partial := "false"
	if len(out.Degraded) > 0 {
		partial = "true"
	}
	writeJSON(w, http.StatusOK, out, partial)
}

// A GET under its own timeout inside ctx, carrying the time left downstream.
func (g *gateway) get(ctx context.Context, timeout time.Duration, url string) (*http.Response, context.CancelFunc, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	if deadline, ok := ctx.Deadline(); ok {
		left := time.Until(deadline)
		req.Header.Set(deadlineHeader, strconv.FormatInt(int64(math.Ceil(float64(left)/float64(time.Millisecond))), 10))
	}
	resp, err := g.client.Do(req)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	return resp, cancel, nil
}

func timedOut(ctx context.Context, err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil
}

func (g *gateway) fetchBalance(ctx context.Context, userID uint64) result {
	res := result{task: "get_balance"}
	resp, cancel, err := g.get(ctx, balanceTimeout, fmt.Sprintf("%s/balances/%d", g.walletURL, userID))
	if err != nil {
		res.err = err
		if timedOut(ctx, err) {
			res.status, res.code = http.StatusGatewayTimeout, "upstream_timeout"
		} else {
			res.status, res.code = http.StatusBadGateway, "upstream_failed"
		}
		return res
	}
	defer cancel()
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	switch {
	case err != nil:
		res.err, res.status, res.code = err, http.StatusBadGateway, "upstream_failed"
	case resp.StatusCode == http.StatusNotFound:
		res.err, res.status, res.code = fmt.Errorf("no wallet for user %d", userID), http.StatusNotFound, "unknown_user"
	case resp.StatusCode == http.StatusGatewayTimeout:
		res.err, res.status, res.code = errors.New("the wallet ran out of time"), http.StatusGatewayTimeout, "upstream_timeout"
	case resp.StatusCode != http.StatusOK:
		res.err, res.status, res.code = fmt.Errorf("the wallet answered %d", resp.StatusCode), http.StatusBadGateway, "upstream_failed"
	default:
		var wb walletBalance
		if err := json.Unmarshal(body, &wb); err != nil || wb.UserID != userID {
			res.err, res.status, res.code = errors.New("the wallet's answer was not a balance"), http.StatusBadGateway, "upstream_failed"
		} else {
			res.balance = balance{wb.AmountMinor, wb.Currency}
		}
	}
	return res
}

func (g *gateway) fetchCard(ctx context.Context, userID uint64) result {
	res := result{task: "get_scratch_card"}
	resp, cancel, err := g.get(ctx, cardTimeout, fmt.Sprintf("%s/cards/%d", g.scratchURL, userID))
	if err != nil {
		res.err = err
		if timedOut(ctx, err) {
			res.code = "timed_out"
		} else {
			res.code = "failed"
		}
		return res
	}
	defer cancel()
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		res.err, res.code = errors.New("no card"), "failed"
		return res
	}
	var card scratchCard
	if err := json.Unmarshal(body, &card); err != nil {
		res.err, res.code = err, "failed"
		return res
	}
	res.card = &card
	return res
}

// The one user_id of a raw query, strictly parsed, as the Rust gateway does.
func userIDFromQuery(raw string) (uint64, *apiError) {
	values, err := url.ParseQuery(raw)
	ids := values["user_id"]
	switch {
	case err != nil && len(ids) == 0:
		return 0, &apiError{"missing_user_id", "the query must have `user_id`, e.g. `?user_id=42`"}
	case len(ids) == 0:
		return 0, &apiError{"missing_user_id", "the query must have `user_id`, e.g. `?user_id=42`"}
	case len(ids) > 1:
		return 0, &apiError{"repeated_user_id", "`user_id` must be given once"}
	}
	id := ids[0]
	if id == "" {
		return 0, &apiError{"empty_user_id", "`user_id` is empty"}
	}
	for _, c := range []byte(id) {
		if c < '0' || c > '9' {
			return 0, &apiError{"invalid_user_id", "`user_id` must be a whole number"}
		}
	}
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n < 0 {
		return 0, &apiError{"user_id_out_of_range", "`user_id` is too large"}
	}
	return uint64(n), nil
}

func writeJSON(w http.ResponseWriter, status int, body any, partial string) {
	data, err := json.Marshal(body)
	if err != nil {
		status, data = http.StatusInternalServerError, []byte(`{"error":"internal","detail":"encoding failed"}`)
	}
	h := w.Header()
	h.Set("content-type", "application/json")
	if partial != "" {
		h.Set("x-partial-response", partial)
	}
	w.WriteHeader(status)
	_, _ = w.Write(data)
}
