package rest_test

import (
	"crypto/sha512"
	"fmt"

	"github.com/sluz/sluz/securityserver/rest"
)

// A REST request from DİN's information system for ƏMDK's extract, through
// both security servers' view of it. Notice the header part: Host and
// User-Agent are gone, the x-road-* fields the client's server adds come
// last, and there is no space after the colons.
func Example() {
	req, err := rest.NewRequest("GET", "/r1/AZ/GOV/EMDK/registry/realEstate/extract/AZE1234?lang=az",
		[]rest.Field{
			{Name: "Host", Value: "ss.din.gov.az"},
			{Name: "User-Agent", Value: "curl/8"},
			{Name: "X-Road-Client", Value: "AZ/GOV/DIN/population"},
			{Name: "X-Road-Id", Value: "din-42"},
			{Name: "Accept", Value: "application/json"},
		}, "7d9f", "AZ")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s %s %s\n", req.Client, req.Service, req.ServicePath)
	fmt.Printf("%q\n", req.HeaderPart())

	// The provider's server: no body, so the hash is over the part alone.
	hash := rest.RequestHash(req.HeaderPart(), nil)
	resp, _ := rest.NewResponse(req, 200, "OK", []rest.Field{{Name: "Content-Type", Value: "application/json"}}, hash, "7d9f")
	got, _ := rest.ParseResponsePart(resp.HeaderPart())
	fmt.Println(rest.CheckResponse(req, nil, got), len(hash) == sha512.Size)

	fmt.Println(rest.Allowed([]rest.Endpoint{{Method: "GET", Path: "/extract/*"}}, req.Method, req.ServicePath))
	// Output:
	// AZ/GOV/DIN/population AZ/GOV/EMDK/registry/realEstate /extract/AZE1234
	// "GET\r\n/r1/AZ/GOV/EMDK/registry/realEstate/extract/AZE1234?lang=az\r\nX-Road-Client:AZ/GOV/DIN/population\r\nX-Road-Id:din-42\r\nAccept:application/json\r\nx-road-request-id:7d9f\r\n"
	// <nil> true
	// true
}
