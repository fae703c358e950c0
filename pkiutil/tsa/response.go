package tsa

import (
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"unicode/utf8"
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
	info := [][]byte{derInteger(big.NewInt(int64(r.Status)))}
	if len(r.StatusText) > 0 {
		var texts [][]byte
		for _, s := range r.StatusText {
			if !utf8.ValidString(s) {
				return nil, errors.New("tsa: status text is not valid UTF-8")
			}
			texts = append(texts, tlv(tagUTF8String, []byte(s)))
		}
		info = append(info, tlv(tagSequence, texts...))
	}
	if !granted(r.Status) && r.FailInfo >= 0 {
		if r.FailInfo > 63 {
			return nil, fmt.Errorf("tsa: invalid failInfo bit %d", r.FailInfo)
		}
		bs := asn1.BitString{Bytes: make([]byte, r.FailInfo/8+1), BitLength: r.FailInfo + 1}
		bs.Bytes[r.FailInfo/8] = 0x80 >> (r.FailInfo % 8)
		b, err := asn1.Marshal(bs)
		if err != nil {
			return nil, err
		}
		info = append(info, b)
	}
	parts := [][]byte{tlv(tagSequence, info...)}
	if r.Token != nil {
		if _, err := parseSequence(r.Token, "time-stamp token"); err != nil {
			return nil, err
		}
		parts = append(parts, r.Token)
	}
	return tlv(tagSequence, parts...), nil
}

// ParseResponse parses a DER TimeStampResp. The token, if any, is only
// checked to be a single DER SEQUENCE; use ParseToken to decode it.
func ParseResponse(der []byte) (*Response, error) {
	rd, err := parseSequence(der, "time-stamp response")
	if err != nil {
		return nil, err
	}
	si, err := rd.expect(asn1.ClassUniversal, asn1.TagSequence, true, "status")
	if err != nil {
		return nil, err
	}
	resp := &Response{FailInfo: -1}
	sr := &derReader{what: "time-stamp response: status", rest: si.Bytes}
	status, err := sr.readInt("status")
	if err != nil {
		return nil, err
	}
	if status < StatusGranted || status > StatusRevocationNotification {
		return nil, sr.errorf("unknown PKIStatus %d", status)
	}
	resp.Status = int(status)
	if v, ok, err := sr.optional(asn1.ClassUniversal, asn1.TagSequence, true, "statusString"); err != nil {
		return nil, err
	} else if ok {
		var texts []string
		if _, err := asn1.Unmarshal(v.FullBytes, &texts); err != nil {
			return nil, sr.errorf("statusString: %v", err)
		}
		for _, s := range texts {
			if !utf8.ValidString(s) {
				return nil, sr.errorf("statusString is not valid UTF-8")
			}
		}
		resp.StatusText = texts
	}
	if v, ok, err := sr.optional(asn1.ClassUniversal, asn1.TagBitString, false, "failInfo"); err != nil {
		return nil, err
	} else if ok {
		var bs asn1.BitString
		if _, err := asn1.Unmarshal(v.FullBytes, &bs); err != nil {
			return nil, sr.errorf("failInfo: %v", err)
		}
		for i := 0; i < bs.BitLength; i++ {
			if bs.At(i) == 1 {
				resp.FailInfo = i
				break
			}
		}
	}
	if err := sr.done(); err != nil {
		return nil, err
	}
	if v, ok, err := rd.optional(asn1.ClassUniversal, asn1.TagSequence, true, "timeStampToken"); err != nil {
		return nil, err
	} else if ok {
		resp.Token = v.FullBytes
	}
	if err := rd.done(); err != nil {
		return nil, err
	}
	if granted(resp.Status) && resp.Token == nil {
		return nil, rd.errorf("status %s without a token", statusName(resp.Status))
	}
	if !granted(resp.Status) && resp.Token != nil {
		return nil, rd.errorf("status %s with a token", statusName(resp.Status))
	}
	return resp, nil
}
