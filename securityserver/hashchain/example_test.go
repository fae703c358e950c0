package hashchain_test

import (
	"crypto/sha512"
	"errors"
	"fmt"

	"github.com/sluz/sluz/internal/xmldsig"
	"github.com/sluz/sluz/securityserver/hashchain"
)

// A batch signature over two messages, the first with an attachment: the
// signer signs batch.Result (stored as /sig-hashchainresult.xml) and sends
// each message with its own chain (/sig-hashchain.xml). The receiver
// verifies the result against the chain and the parts it received; the
// attachment's digest was computed while it streamed.
func Example() {
	soap := []byte("<Envelope>getPersonByFin</Envelope>")
	pdf := []byte("%PDF-1.7 ...")
	other := []byte("<Envelope>another request</Envelope>")

	batch, err := hashchain.Builder{}.Build(
		[]hashchain.Part{hashchain.Bytes(soap), hashchain.Bytes(pdf)},
		[]hashchain.Part{hashchain.Bytes(other)},
	)
	if err != nil {
		fmt.Println(err)
		return
	}

	streamed := sha512.Sum512(pdf)
	err = hashchain.Verify(batch.Result,
		map[string][]byte{hashchain.SigChainURI: batch.Chains[0]},
		map[string]hashchain.Part{
			hashchain.MessageURI:       hashchain.Bytes(soap),
			hashchain.AttachmentURI(1): hashchain.Digested(xmldsig.SHA512, streamed[:]),
		})
	fmt.Println("first message:", err)

	// The same chain with the attachment changed in transit.
	err = hashchain.Verify(batch.Result,
		map[string][]byte{hashchain.SigChainURI: batch.Chains[0]},
		map[string]hashchain.Part{
			hashchain.MessageURI:       hashchain.Bytes(soap),
			hashchain.AttachmentURI(1): hashchain.Bytes([]byte("%PDF-1.7 forged")),
		})
	fmt.Println("forged attachment:", errors.Is(err, hashchain.ErrDataRef))
	// The second message's chain: one step, the first message's leaf (the
	// digest of its two parts' step) as a HashValue, then its own DataRef.
	fmt.Printf("%s", batch.Chains[1])
	// Output:
	// first message: <nil>
	// forged attachment: true
	// <?xml version="1.0" encoding="UTF-8" standalone="yes"?>
	// <ns2:HashChain xmlns:ns2="http://cyber.ee/hashchain" xmlns="http://www.w3.org/2000/09/xmldsig#">
	//     <ns2:DefaultDigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha512"/>
	//     <ns2:HashStep id="STEP0">
	//         <ns2:HashValue>
	//             <DigestValue>6O9FWHeqM1BRXskqNbz3jIn27lPnAdJh597sGK/TJRh/NhTRMXh3kIZwvJ4gC6lsaVr5Uds1x7MZeT//T+eI2w==</DigestValue>
	//         </ns2:HashValue>
	//         <ns2:DataRef URI="/message.xml">
	//             <DigestValue>foXJKB6yGwF2CNp1XMQKQGmjON0t8Q9AsR02YTCkJAzvqJ9gwT9IbANyLRAhblcAQwMx7rU4yEgwWAZ+x/pr3Q==</DigestValue>
	//         </ns2:DataRef>
	//     </ns2:HashStep>
	// </ns2:HashChain>
}
