#!/usr/bin/env bash
# sealed-seeds.sh PKI_DIR OUT -- seed envelopes for fuzz_sealed, made with the
# openssl command for the development PKI's encryption certificates: the
# form the relay accepts (one and three recipients), the forms it refuses
# (SHA-1 KDF, AES-256-CBC EnvelopedData, AES-128-GCM) and a sealed
# plaintext P of the right length.
set -euo pipefail
pki=$1
out=$2
mkdir -p -- "$out"
p=$out/plain-note
# tag "vigil-sealed-v1\0", record id, field 1 (note), salt, length 2, "hi",
# padding to 512: 579 bytes.
{
	printf 'vigil-sealed-v1\0'
	head -c 16 /dev/zero | tr '\0' '\252'
	printf '\001'
	head -c 32 /dev/zero | tr '\0' '\125'
	printf '\000\002hi'
	head -c 510 /dev/zero
} >"$p"
recip() { echo "-recip $pki/$1.enc.crt -keyopt ecdh_kdf_md:sha256"; }
enc() {
	local name=$1
	shift
	# shellcheck disable=SC2068
	openssl cms -encrypt -binary -in "$p" -outform DER -out "$out/$name" $@
}
enc one -aes-256-gcm $(recip iom-ru-moscow)
enc three -aes-256-gcm $(recip iom-ru-moscow) $(recip se-stockholm-coord) $(recip se-shelter-1)
enc sha1kdf -aes-256-gcm -recip "$pki/iom-ru-moscow.enc.crt"
enc cbc -aes-256-cbc $(recip iom-ru-moscow)
enc aes128 -aes-128-gcm $(recip iom-ru-moscow)
