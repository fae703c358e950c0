package tsa

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/sluz/sluz/internal/der"
)

// Response is an RFC 3161 TimeStampResp.
type Response struct {
	// Status is the PKIStatus: 0 granted, 1 grantedWithMods, 2 rejection,
	// 3 waiting, 4 revocationWarning, 5 revocationNotification.
	Status int
	// StatusText is the optional statusString (PKIFreeText).
	StatusText []string
	// FailInfo is the bit number of the PKIFailureInfo (see the Fail*
	// constants), -1 if none. It is encoded only for statuses other than
	// granted and grantedWithMods; when parsing, the lowest set bit wins.
	FailInfo int
	// Token is the DER TimeStampToken (a CMS ContentInfo); nil unless
	// Status is granted or grantedWithMods.
	Token []byte
}

func granted(status int) bool {
	return status == StatusGranted || status == StatusGrantedWithMods
}

// rejection builds a rejection response.
func rejection(failInfo int, text string) *Response {
	return &Response{Status: StatusRejection, FailInfo: failInfo, StatusText: []string{text}}
}

// Marshal returns the DER encoding of the response.
func (r *Response) Marshal() ([]byte, error) {
	if r.Status < StatusGranted || r.Status > StatusRevocationNotification {
		return nil, fmt.Errorf("tsa: invalid PKIStatus %d", r.Status)
	}
	if granted(r.Status) && len(r.Token) == 0 {
		return nil, errors.New("tsa: granted response needs a token")
	}
	if !granted(r.Status) && r.Token != nil {
		return nil, fmt.Errorf("tsa: response with status %s must not carry a token", statusName(r.Status))
	}
	info := [][]byte{der.Int(int64(r.Status))}
	if len(r.StatusText) > 0 {
		var texts [][]byte
		for _, s := range r.StatusText {
			if !utf8.ValidString(s) {
				return nil, errors.New("tsa: status text is not valid UTF-8")
			}
			texts = append(texts, der.TLV(der.TagUTF8String, []byte(s)))
		}
		info = append(info, der.TLV(der.TagSequence, texts...))
	}
	if !granted(r.Status) && r.FailInfo >= 0 {
		if r.FailInfo > 63 {
			return nil, fmt.Errorf("tsa: invalid failInfo bit %d", r.FailInfo)
		}
		bits := make([]byte, r.FailInfo/8+1)
		bits[r.FailInfo/8] = 0x80 >> (r.FailInfo % 8)
		info = append(info, der.BitString(bits, 7-r.FailInfo%8))
	}
	parts := [][]byte{der.TLV(der.TagSequence, info...)}
	if r.Token != nil {
		if _, err := der.Parse(r.Token, der.TagSequence, "time-stamp token"); err != nil {
			return nil, malformed(err)
		}
		parts = append(parts, r.Token)
	}
	return der.TLV(der.TagSequence, parts...), nil
}

// ParseResponse parses a DER TimeStampResp. The token, if any, is only
// checked to be a single DER SEQUENCE; use ParseToken to decode it.
func ParseResponse(b []byte) (*Response, error) {
	resp, err := parseResponse(b)
	if err != nil {
		return nil, malformed(err)
	}
	return resp, nil
}

// parseResponse parses a TimeStampResp; its errors are the DER reader's.
func parseResponse(b []byte) (*Response, error) {
	rd, err := der.Parse(b, der.TagSequence, "time-stamp response")
	if err != nil {
		return nil, err
	}
	sr, err := rd.Enter(der.TagSequence, "status")
	if err != nil {
		return nil, err
	}
	resp := &Response{FailInfo: -1}
	status, err := sr.Int64("status")
	if err != nil {
		return nil, err
	}
	if status < StatusGranted || status > StatusRevocationNotification {
		return nil, sr.Errorf("unknown PKIStatus %d", status)
	}
	resp.Status = int(status)
	if sr.Peek(der.TagSequence) {
		tr, err := sr.Enter(der.TagSequence, "statusString")
		if err != nil {
			return nil, err
		}
		texts := []string{}
		for !tr.Empty() {
			s, err := tr.UTF8String("PKIFreeText")
			if err != nil {
				return nil, err
			}
			texts = append(texts, s)
		}
		resp.StatusText = texts
	}
	if sr.Peek(der.TagBitString) {
		bs, err := sr.BitString("failInfo")
		if err != nil {
			return nil, err
		}
		for i := 0; i < bs.BitLength; i++ {
			if bs.At(i) == 1 {
				resp.FailInfo = i
				break
			}
		}
	}
	if err := sr.Done(); err != nil {
		return nil, err
	}
	if rd.Peek(der.TagSequence) {
		tok, err := rd.Read(der.TagSequence, "timeStampToken")
		if err != nil {
			return nil, err
		}
		resp.Token = tok.Raw
	}
	if err := rd.Done(); err != nil {
		return nil, err
	}
	if granted(resp.Status) && resp.Token == nil {
		return nil, rd.Errorf("status %s without a token", statusName(resp.Status))
	}
	if !granted(resp.Status) && resp.Token != nil {
		return nil, rd.Errorf("status %s with a token", statusName(resp.Status))
	}
	return resp, nil
}
