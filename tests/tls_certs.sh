#!/bin/sh
# Make the TLS tests' certificates in DIR (never committed: keys are made
# fresh for every run), all ECDSA P-256:
#   ca.pem ca.key            a test CA
#   server.pem server.key    localhost / 127.0.0.1 / ::1, signed by the CA
#   expired.pem expired.key  the same names, signed by the CA, expired
#   self.pem self.key        the same names, self-signed
#   wronghost.pem .key       other.example only, signed by the CA
#   tls_certs.sh DIR
set -eu
dir=$1
cd "$dir"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
key ca.key
openssl req -x509 -new -key ca.key -out ca.pem -subj /CN=coil-test-ca -days 2 \
	-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
leaf() { # name cn san days
	key "$1.key"
	openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$2" 2>/dev/null
	printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$3" >"$1.ext"
	openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -extfile "$1.ext" \
		-days "$4" -out "$1.pem" 2>/dev/null
	rm -f "$1.csr" "$1.ext"
}
names=DNS:localhost,IP:127.0.0.1,IP:::1
leaf server localhost "$names" 2
leaf expired localhost "$names" -1
leaf wronghost other.example DNS:other.example 2
key self.key
openssl req -x509 -new -key self.key -out self.pem -subj /CN=localhost -days 2 \
	-addext "subjectAltName=$names" 2>/dev/null
