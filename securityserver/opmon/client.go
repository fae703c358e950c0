package opmon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// maxAnswer caps an answer read by Ask (the client proxy already caps it
// at its limits.maxMessageSize).
const maxAnswer = 256 << 20

// Ask sends q, as an information system, to the client proxy at url (the
// caller's own security server), which signs it and sends it to the
// security server q.Server. It follows nextRecordsFrom until the answer is
// complete, each page a new message, and returns every record. A refusal
// is returned as the *message.Fault the client proxy answered with.
func Ask(ctx context.Context, hc *http.Client, url string, q Request) ([]Record, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	var all []Record
	for page := 0; ; page++ {
		if page > 0 {
			q.ID = "" // q.ID, if set, names the first page's message only
		}
		ans, err := ask(ctx, hc, url, &q)
		if err != nil {
			if page > 0 {
				return all, fmt.Errorf("page %d (records from %d): %w", page+1, q.From, err)
			}
			return nil, err
		}
		all = append(all, ans.Records...)
		if ans.NextRecordsFrom == 0 {
			return all, nil
		}
		if ans.NextRecordsFrom <= q.From {
			return all, fmt.Errorf("opmon: the server's nextRecordsFrom %d does not advance past recordsFrom %d", ans.NextRecordsFrom, q.From)
		}
		q.From = ans.NextRecordsFrom
	}
}

func ask(ctx context.Context, hc *http.Client, url string, q *Request) (*Answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(q.Marshal()))
	if err != nil {
		return nil, fmt.Errorf("opmon: client proxy URL %q: %w", url, err)
	}
	req.Header.Set("Content-Type", "text/xml; charset=UTF-8")
	req.Header.Set("SOAPAction", "")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("opmon: cannot reach the client proxy: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return nil, fmt.Errorf("opmon: reading the answer: %w", err)
	}
	if len(data) > maxAnswer {
		return nil, errors.New("opmon: the answer is over 256 MiB")
	}
	ans, err := ParseAnswer(data)
	if err != nil && resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("opmon: the client proxy answered HTTP %d: %w", resp.StatusCode, err)
	}
	return ans, err
}
