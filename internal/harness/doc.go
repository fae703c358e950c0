// Package harness holds what runs Şlüz for tests, demonstrations and
// measurements, apart from the libraries it runs: localfed (the complete
// local federation on embedded defaults), sampleis (the agencies' sample
// information systems) and loadtest (the load test's pairs and targets).
//
// Imports run one way: the small libraries in internal/ (xmltok, c14n, cli,
// testtool, ...) import no other package of the module; pkiutil, registry
// and securityserver import those libraries and never a harness; the
// harnesses import the servers; cmd/ imports all. TestLayout checks it.
package harness
