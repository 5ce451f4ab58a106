#!/usr/bin/env bash
# mkpki.sh DIR -- make vigil's development PKI in DIR with the openssl command.
#
# Idempotent: a file that already exists is kept, a missing one is made, and a
# second run on a complete DIR writes nothing. If the CA (ca.key or ca.crt) is
# missing, a new CA is made and every certificate it signed, the CRL and the CA
# database are made again. Private keys are created under umask 077 and are
# always left at mode 0600.
#
# Development material only: never use these keys in production and never
# commit them. See certs/README.md for the list of files.
set -euo pipefail

usage() {
    echo "usage: $0 DIR" >&2
    exit 2
}
[ "$#" -eq 1 ] || usage
[ -n "$1" ] || usage

command -v openssl >/dev/null 2>&1 || {
    echo "mkpki.sh: the openssl command is required" >&2
    exit 1
}

out_dir=$1
umask 022
mkdir -p -- "$out_dir"
cd -- "$out_dir"

# Two runs on the same DIR at once (parallel test jobs) take turns.
if command -v flock >/dev/null 2>&1; then
    exec 9<.
    flock 9
fi

# Scratch space for the openssl configuration and CSRs; removed on exit so
# that nothing in DIR changes on a run that has nothing to do.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mkpki.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT

# Run a command quietly; show its output only if it fails.
run() {
    if ! "$@" >"$tmp/log" 2>&1; then
        echo "mkpki.sh: failed: $*" >&2
        cat "$tmp/log" >&2
        exit 1
    fi
}

# Certificates signed by the development CA (remade if the CA is remade).
ca_signed=(relay relay-renewed se-stockholm-coord se-police-noa iom-ru-moscow se-shelter-1
           expired revoked no-ou bad-ou no-o other-iom other-coord nonmember wrong-ou
           wrong-c)
# (untrusted-enc is signed by the untrusted CA: remade with it, below.)
# Every member's encryption certificate (ORG.enc.crt), for sealed text.
members=(se-stockholm-coord se-goteborg-coord se-police-noa iom-ru-moscow iom-md-chisinau
         se-shelter-1)
for org in "${members[@]}"; do
    ca_signed+=("$org.enc")
done

cat >"$tmp/openssl.cnf" <<'CNF'
[ ca ]
default_ca = vigil_ca

[ vigil_ca ]
dir              = ca-db
database         = $dir/index.txt
serial           = $dir/serial
crlnumber        = $dir/crlnumber
new_certs_dir    = $dir/newcerts
certificate      = ca.crt
private_key      = ca.key
default_md       = sha256
default_days     = 825
default_crl_days = 365
policy           = policy_any
email_in_dn      = no
preserve         = yes
unique_subject   = no
copy_extensions  = none
crl_extensions   = crl_ext

[ policy_any ]
countryName            = optional
organizationName       = optional
organizationalUnitName = optional
commonName             = supplied

[ req ]
distinguished_name = req_dn
prompt             = no
utf8               = yes
string_mask        = utf8only

[ req_dn ]
CN = placeholder

[ v3_ca ]
basicConstraints       = critical, CA:true
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ server ]
basicConstraints       = critical, CA:false
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth, clientAuth
subjectAltName         = DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ client ]
basicConstraints       = critical, CA:false
keyUsage               = critical, digitalSignature
extendedKeyUsage       = clientAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

# An organisation's encryption certificate: ECDH key agreement only, for
# the readers of sealed text (CMS, RFC 5753); never for TLS or signatures.
[ encryption ]
basicConstraints       = critical, CA:false
keyUsage               = critical, keyAgreement
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ crl_ext ]
authorityKeyIdentifier = keyid:always
CNF
cnf=$tmp/openssl.cnf

# A positive random serial of 71 or 72 bits, in hex (an even number of digits,
# which the serial file of openssl ca requires).
rand_serial() {
    printf '%02x%s\n' $(( (RANDOM % 0x70) + 0x10 )) "$(openssl rand -hex 8)"
}

# make_key NAME ALG: NAME.key, PEM PKCS#8, mode 0600. Removes NAME.crt and
# NAME.pub when the key is new, so that they are made again from it.
make_key() {
    local name=$1 alg=$2
    if [ ! -s "$name.key" ]; then
        rm -f -- "$name.crt" "$name.pub"
        (
            umask 077
            case $alg in
            ec) run openssl genpkey -algorithm EC \
                    -pkeyopt ec_paramgen_curve:prime256v1 \
                    -pkeyopt ec_param_enc:named_curve -out "$name.key.tmp" ;;
            ed25519) run openssl genpkey -algorithm ed25519 -out "$name.key.tmp" ;;
            esac
            mv -f -- "$name.key.tmp" "$name.key"
        )
    fi
    chmod 600 -- "$name.key"
}

# make_pub NAME: NAME.pub, the PEM public key of NAME.key.
make_pub() {
    local name=$1
    if [ ! -s "$name.pub" ]; then
        run openssl pkey -in "$name.key" -pubout -out "$name.pub.tmp"
        mv -f -- "$name.pub.tmp" "$name.pub"
    fi
}

# make_self_signed NAME SUBJECT: a CA certificate for NAME.key, 10 years.
make_self_signed() {
    local name=$1 subj=$2
    if [ ! -s "$name.crt" ]; then
        run openssl req -new -x509 -config "$cnf" -key "$name.key" \
            -subj "$subj" -sha256 -days 3650 -extensions v3_ca \
            -set_serial "0x$(rand_serial)" -out "$name.crt.tmp"
        mv -f -- "$name.crt.tmp" "$name.crt"
    fi
}

# make_cert NAME SUBJECT EXTENSIONS [openssl ca options...]: NAME.crt signed
# by the development CA through the ca-db database.
make_cert() {
    local name=$1 subj=$2 ext=$3
    shift 3
    make_key "$name" ec
    if [ ! -s "$name.crt" ]; then
        run openssl req -new -config "$cnf" -key "$name.key" -subj "$subj" \
            -out "$tmp/$name.csr"
        run openssl ca -batch -config "$cnf" -notext -preserveDN \
            -extensions "$ext" -in "$tmp/$name.csr" -out "$name.crt.tmp" "$@"
        mv -f -- "$name.crt.tmp" "$name.crt"
    fi
}

# make_foreign_cert NAME SUBJECT [EXTENSIONS]: a certificate for NAME.key
# signed by the untrusted CA (no database: random serial), a client
# certificate unless EXTENSIONS names another section.
make_foreign_cert() {
    local name=$1 subj=$2 ext=${3:-client}
    make_key "$name" ec
    if [ ! -s "$name.crt" ]; then
        run openssl req -new -config "$cnf" -key "$name.key" -subj "$subj" \
            -out "$tmp/$name.csr"
        run openssl x509 -req -in "$tmp/$name.csr" -CA untrusted-ca.crt \
            -CAkey untrusted-ca.key -set_serial "0x$(rand_serial)" -sha256 \
            -days 825 -extfile "$cnf" -extensions "$ext" -out "$name.crt.tmp"
        mv -f -- "$name.crt.tmp" "$name.crt"
    fi
}

# ---- development CA -------------------------------------------------------

if [ ! -s ca.key ] || [ ! -s ca.crt ]; then
    # A new CA: drop everything the old one signed, its CRL and its database.
    rm -f -- ca.crt crl.pem
    rm -rf -- ca-db
    for name in "${ca_signed[@]}"; do
        rm -f -- "$name.crt"
    done
fi
make_key ca ec
make_self_signed ca "/O=vigil-dev/CN=vigil development CA"

if [ ! -d ca-db ]; then
    (umask 077 && mkdir ca-db)
fi
[ -d ca-db/newcerts ] || (umask 077 && mkdir ca-db/newcerts)
[ -e ca-db/index.txt ] || : >ca-db/index.txt
[ -s ca-db/serial ] || rand_serial >ca-db/serial
[ -s ca-db/crlnumber ] || echo 1000 >ca-db/crlnumber

# ---- relay ----------------------------------------------------------------

make_cert relay "/C=SE/O=vigil-relay/OU=relay/CN=vigil relay" server
# The relay's certificate after a renewal: same identity, new key.
make_cert relay-renewed "/C=SE/O=vigil-relay/OU=relay/CN=vigil relay (renewed)" server
make_key checkpoint ed25519
make_pub checkpoint

# ---- sample organisations -------------------------------------------------

make_cert se-stockholm-coord \
    "/C=SE/O=se-stockholm-coord/OU=coordinator/CN=Stockholm county coordinator" client
make_cert se-police-noa \
    "/C=SE/O=se-police-noa/OU=police/CN=Swedish Police NOA" client
make_cert iom-ru-moscow \
    "/C=RU/O=iom-ru-moscow/OU=iom/CN=IOM Moscow field office" client
make_cert se-shelter-1 \
    "/C=SE/O=se-shelter-1/OU=shelter/CN=Shelter 1" client
for org in se-stockholm-coord se-police-noa iom-ru-moscow se-shelter-1; do
    make_pub "$org"
done

# ---- encryption certificates ----------------------------------------------

# One per member organisation, beside its TLS certificate: same O, OU and C,
# a key of its own. The directory publishes them (encryption_cert).
enc_subject() {
    case $1 in
    se-stockholm-coord) echo "/C=SE/O=$1/OU=coordinator/CN=Stockholm county coordinator (encryption)" ;;
    se-goteborg-coord) echo "/C=SE/O=$1/OU=coordinator/CN=Gothenburg county coordinator (encryption)" ;;
    se-police-noa) echo "/C=SE/O=$1/OU=police/CN=Swedish Police NOA (encryption)" ;;
    iom-ru-moscow) echo "/C=RU/O=$1/OU=iom/CN=IOM Moscow field office (encryption)" ;;
    iom-md-chisinau) echo "/C=MD/O=$1/OU=iom/CN=IOM Chisinau field office (encryption)" ;;
    se-shelter-1) echo "/C=SE/O=$1/OU=shelter/CN=Shelter 1 (encryption)" ;;
    esac
}
for org in "${members[@]}"; do
    make_cert "$org.enc" "$(enc_subject "$org")" encryption
done

# ---- test material --------------------------------------------------------

# A second, unrelated CA and a client certificate it signed.
make_key untrusted-ca ec
if [ ! -s untrusted-ca.crt ]; then
    rm -f -- untrusted.crt untrusted-enc.crt
fi
make_self_signed untrusted-ca "/O=vigil-untrusted/CN=vigil untrusted test CA"
make_foreign_cert untrusted \
    "/C=RU/O=iom-ru-moscow/OU=iom/CN=IOM Moscow field office (untrusted CA)"
# An encryption certificate of the same kind, from the untrusted CA.
make_foreign_cert untrusted-enc \
    "/C=RU/O=iom-ru-moscow/OU=iom/CN=IOM Moscow field office (encryption, untrusted CA)" \
    encryption

# Signed by the real CA, but valid only in the past.
make_cert expired \
    "/C=RU/O=iom-ru-moscow/OU=iom/CN=IOM Moscow field office (expired)" client \
    -startdate 20200101000000Z -enddate 20200102000000Z

# Signed by the real CA, valid dates, listed in crl.pem.
make_cert revoked \
    "/C=RU/O=iom-ru-moscow/OU=iom/CN=IOM Moscow field office (revoked)" client

# Malformed identities, all signed by the real CA.
make_cert no-ou "/C=RU/O=iom-ru-moscow/CN=IOM Moscow field office (no OU)" client
make_cert bad-ou \
    "/C=RU/O=iom-ru-moscow/OU=journalist/CN=IOM Moscow field office (bad OU)" client
make_cert no-o "/C=RU/OU=iom/CN=IOM Moscow field office (no O)" client

# A valid second IOM organisation.
make_cert other-iom \
    "/C=MD/O=iom-md-chisinau/OU=iom/CN=IOM Chisinau field office" client

# A valid second coordinator (a coordinator that is not a party to a case).
make_cert other-coord \
    "/C=SE/O=se-goteborg-coord/OU=coordinator/CN=Gothenburg county coordinator" client

# Valid and signed by the real CA, but not in directory.conf.
make_cert nonmember \
    "/C=DE/O=iom-xx-nonmember/OU=iom/CN=IOM field office that is not a member" client

# Members whose certificate disagrees with their directory entry: OU police
# where the directory says iom, C MD where it says RU.
make_cert wrong-ou \
    "/C=RU/O=iom-ru-moscow/OU=police/CN=IOM Moscow field office (wrong OU)" client
make_cert wrong-c \
    "/C=MD/O=iom-ru-moscow/OU=iom/CN=IOM Moscow field office (wrong C)" client

# ---- member directory -----------------------------------------------------

# Every valid organisation above, the relay's included; written only when
# its content changed, so that a second run writes nothing.
cat >"$tmp/directory.conf" <<'DIR'
; vigil member directory of the development PKI (made by certs/mkpki.sh).
; One section per organisation id (the certificates' O); encryption_cert
; names each member's encryption certificate (relative to this file).

[vigil-relay]
role = relay
country = SE
name = vigil relay

[se-stockholm-coord]
role = coordinator
country = SE
name = Stockholm county coordinator
encryption_cert = se-stockholm-coord.enc.crt

[se-goteborg-coord]
role = coordinator
country = SE
name = Gothenburg county coordinator
encryption_cert = se-goteborg-coord.enc.crt

[se-police-noa]
role = police
country = SE
name = Swedish Police NOA
encryption_cert = se-police-noa.enc.crt

[iom-ru-moscow]
role = iom
country = RU
name = IOM Moscow field office
encryption_cert = iom-ru-moscow.enc.crt

[iom-md-chisinau]
role = iom
country = MD
name = IOM Chisinau field office
encryption_cert = iom-md-chisinau.enc.crt

[se-shelter-1]
role = shelter
country = SE
name = Shelter 1
encryption_cert = se-shelter-1.enc.crt
DIR
if ! cmp -s "$tmp/directory.conf" directory.conf; then
    cp -- "$tmp/directory.conf" directory.conf.tmp
    mv -f -- directory.conf.tmp directory.conf
fi

# ---- CRL ------------------------------------------------------------------

# Made again if it is missing, does not verify against ca.crt, or does not
# list the serial of revoked.crt (e.g. because revoked.crt was made again).
revoked_serial=$(openssl x509 -in revoked.crt -noout -serial)
revoked_serial=${revoked_serial#serial=}

crl_ok() {
    [ -s crl.pem ] || return 1
    openssl crl -in crl.pem -CAfile ca.crt -noout >/dev/null 2>&1 || return 1
    openssl crl -in crl.pem -noout -text 2>/dev/null |
        grep -qi "Serial Number: *$revoked_serial\$"
}

if ! crl_ok; then
    # Revoke in the database unless it is already marked revoked there.
    if ! awk -F '\t' -v s="$revoked_serial" \
        'toupper($4) == toupper(s) && $1 == "R" { found = 1 } END { exit !found }' \
        ca-db/index.txt; then
        run openssl ca -batch -config "$cnf" -revoke revoked.crt \
            -crl_reason keyCompromise
    fi
    run openssl ca -batch -config "$cnf" -gencrl -crldays 365 -out crl.pem.tmp
    mv -f -- crl.pem.tmp crl.pem
fi

# Leave every private key at 0600, whoever made it.
chmod 600 -- *.key

echo "PKI ready in $out_dir"
