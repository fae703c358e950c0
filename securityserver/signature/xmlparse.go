package signature

import (
	"github.com/sluz/sluz/internal/c14n"
	"github.com/sluz/sluz/internal/xmltok"

	"github.com/beevik/etree"
)

// parseXML parses a signature document into an etree tree, from the tokens
// of internal/xmltok (the message parser's tokenizer, with attribute-value
// normalisation on). It replaces encoding/xml (through etree's reader),
// which spends most of Verify's time reading the base64 of certificates and
// OCSP responses byte by byte.
//
// It accepts only the XML a signature document needs and refuses the rest
// as ErrMalformed: an optional UTF-8 BOM and XML declaration, one root
// element with whitespace around it; elements, attributes, text, CDATA
// sections, the five predefined entities and character references. It
// refuses DOCTYPE declarations, comments and processing instructions. It
// checks XML 1.0 well-formedness — names, characters, quoting, matching end
// tags — and applies XML's line-end normalisation everywhere and attribute
// value normalisation (literal tab, CR and LF become spaces; references to
// them stay), so canonical forms come out as the XML recommendation says.
// Namespace rules are the checker's. data must be valid UTF-8.
func parseXML(data []byte) (*etree.Document, error) {
	var t xmltok.Tokenizer
	t.ResetWith(data, xmltok.Options{NormalizeAttributes: true})
	doc := etree.NewDocument()
	var open []*etree.Element
	parent := &doc.Element
	elements, rootDone := 0, false
	for {
		tok, err := t.Next()
		if err != nil {
			return nil, malformed("%v", err)
		}
		switch tok.Kind {
		case xmltok.EOF:
			if len(open) > 0 {
				return nil, malformed("<%s> is not closed", open[len(open)-1].FullTag())
			}
			if !rootDone {
				return nil, malformed("the document has no root element")
			}
			return doc, nil
		case xmltok.StartElement:
			if rootDone {
				return nil, malformed("the document has more than one root element")
			}
			if len(open) >= maxDepth {
				return nil, malformed("the document nests elements more than %d deep", maxDepth)
			}
			if elements++; elements > maxElements {
				return nil, malformed("the document has more than %d elements", maxElements)
			}
			el := etree.NewElement(tok.Name.Local)
			el.Space = tok.Name.Space
			for _, a := range tok.Attr {
				el.Attr = append(el.Attr, etree.Attr{Space: a.Name.Space, Key: a.Name.Local, Value: a.Value})
			}
			parent.AddChild(el)
			open = append(open, el)
			parent = el
		case xmltok.EndElement:
			if len(open) == 0 {
				return nil, malformed("the end tag </%s> closes nothing", qualified(tok.Name.Space, tok.Name.Local))
			}
			el := open[len(open)-1]
			if tok.Name.Space != el.Space || tok.Name.Local != el.Tag {
				return nil, malformed("<%s> is closed by </%s>", el.FullTag(), qualified(tok.Name.Space, tok.Name.Local))
			}
			open = open[:len(open)-1]
			if len(open) == 0 {
				parent, rootDone = &doc.Element, true
			} else {
				parent = open[len(open)-1]
			}
		case xmltok.Text:
			if len(open) == 0 {
				if !xmltok.IsSpace(tok.Text) {
					return nil, malformed("the document has text outside the root element")
				}
				continue
			}
			parent.AddChild(etree.NewText(string(tok.Text)))
		case xmltok.Comment:
			return nil, malformed("the document has a comment")
		case xmltok.ProcInst:
			if tok.Name.Local == "xml" { // xmltok allows it only first, with version 1.0
				if err := checkDeclaration(string(tok.Text)); err != nil {
					return nil, err
				}
				continue
			}
			return nil, malformed("the document has a processing instruction")
		case xmltok.Directive:
			return nil, malformed("the document has a DOCTYPE or another <! directive; DTDs and entities are not accepted")
		}
	}
}

// checkDeclaration accepts an XML declaration for version 1.0 in UTF-8.
func checkDeclaration(inst string) error {
	if err := c14n.CheckDeclaration(inst); err != nil {
		return malformed("%v", err)
	}
	return nil
}

func qualified(prefix, local string) string {
	if prefix == "" {
		return local
	}
	return prefix + ":" + local
}
