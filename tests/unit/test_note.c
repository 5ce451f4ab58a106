/*
 * C2SP signed notes and tlog checkpoints, against the published example of
 * golang.org/x/mod/sumdb/note (the format witnesses and tlog tools use):
 * Ed25519 is deterministic, so signing the example text with the example
 * key must give the published note byte for byte.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "proto/note.h"
#include "proto/status.h"

static const char vkey[] = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
static const char skey_b64[] = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
static const char text[] = "If you think cryptography is the answer to your problem,\n"
			   "then you don't know what your problem is.\n";
static const char signed_note[] =
	"If you think cryptography is the answer to your problem,\n"
	"then you don't know what your problem is.\n"
	"\n"
	"\xe2\x80\x94 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

static EVP_PKEY *example_key(void)
{
	uint8_t raw[33];
	assert_int_equal(base64_decode(skey_b64, strlen(skey_b64), raw, sizeof(raw)), 33);
	assert_int_equal(raw[0], 0x01);
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, raw + 1, 32);
	assert_non_null(k);
	return k;
}

static void test_example_verifier(void **state)
{
	(void)state;
	struct note_verifier v;
	assert_int_equal(note_verifier_parse(vkey, &v), VG_OK);
	assert_string_equal(v.name, "PeterNeumann");
	assert_int_equal(v.id, 0xc74f20a3);
	char back[256];
	assert_int_equal(note_verifier_format(&v, back, sizeof(back)), VG_OK);
	assert_string_equal(back, vkey);
	/* The key from the private half gives the same verifier. */
	EVP_PKEY *k = example_key();
	struct note_verifier w;
	assert_int_equal(note_verifier_from_key(k, "PeterNeumann", &w), VG_OK);
	assert_memory_equal(&v, &w, sizeof(v));
	EVP_PKEY_free(k);
	/* Manglings are refused. */
	static const char *const bad[] = {
		"PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  /* id */
		"PeterNeumann+c74f20a3+Ahpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  /* type */
		"PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",   /* short */
		"PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",   /* id len */
		"Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", /* space */
		"+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",             /* no name */
		"PeterNeumann",
		"Peter\xe2\x80\x83Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", /* em space */
		"Peter\xc2\xa0Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",     /* nbsp */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (note_verifier_parse(bad[i], &w) == VG_OK)
			fail_msg("accepted %s", bad[i]);
}

static void test_example_sign_and_open(void **state)
{
	(void)state;
	EVP_PKEY *k = example_key();
	char *note;
	size_t n;
	assert_int_equal(note_sign(k, "PeterNeumann", text, strlen(text), &note, &n), VG_OK);
	assert_int_equal(n, strlen(signed_note));
	assert_memory_equal(note, signed_note, n);
	free(note);
	/* The same note from a signer made once, note after note, also
	 * after a refused text. */
	struct note_signer *signer = note_signer_new(k, "PeterNeumann");
	assert_non_null(signer);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(note_signer_sign(signer, text, strlen(text), &note, &n), VG_OK);
		assert_int_equal(n, strlen(signed_note));
		assert_memory_equal(note, signed_note, n);
		free(note);
		assert_int_equal(note_signer_sign(signer, text, strlen(text) - 1, &note, &n),
				 VG_EBADREQ);
	}
	note_signer_free(signer);
	assert_null(note_signer_new(k, "bad name"));
	note_signer_free(NULL);
	EVP_PKEY_free(k);

	struct note_verifier v;
	assert_int_equal(note_verifier_parse(vkey, &v), VG_OK);
	size_t tl;
	assert_int_equal(note_open(signed_note, strlen(signed_note), &v, &tl), VG_OK);
	assert_int_equal(tl, strlen(text));

	/* Any changed byte of text or signature fails. */
	char buf[sizeof(signed_note)];
	for (size_t i = 0; i < strlen(signed_note); i++) {
		memcpy(buf, signed_note, sizeof(buf));
		buf[i] ^= 0x01;
		if (note_open(buf, strlen(signed_note), &v, &tl) == VG_OK)
			fail_msg("byte %zu changed, still verifies", i);
	}
	/* Another key's signature alone is not enough; an unknown signature
	 * next to a good one is ignored. */
	static const char other[] = "If you think cryptography is the answer to your problem,\n"
		"then you don't know what your problem is.\n\n"
		"\xe2\x80\x94 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";
	assert_int_equal(note_open(other, strlen(other), &v, &tl), VG_EBADSIG);
	char both[1024];
	snprintf(both, sizeof(both), "%s%s", signed_note,
		 "\xe2\x80\x94 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n");
	assert_int_equal(note_open(both, strlen(both), &v, &tl), VG_OK);
	assert_int_equal(tl, strlen(text));
	/* Malformed notes. */
	assert_int_equal(note_open(text, strlen(text), &v, &tl), VG_EBADREQ);
	static const char ctl[] = "a\tb\n\n\xe2\x80\x94 PeterNeumann AAAA\n";
	assert_int_equal(note_open(ctl, strlen(ctl), &v, &tl), VG_EBADREQ);
}

static void test_checkpoint(void **state)
{
	(void)state;
	/* The example of c2sp.org/tlog-checkpoint. */
	static const char body[] = "example.com/behind-the-sofa\n20852163\n"
				   "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
	struct checkpoint c;
	assert_int_equal(checkpoint_parse(body, strlen(body), &c), VG_OK);
	assert_string_equal(c.origin, "example.com/behind-the-sofa");
	assert_int_equal(c.size, 20852163);
	char out[512];
	assert_int_equal(checkpoint_format(&c, out, sizeof(out)), (int)strlen(body));
	assert_string_equal(out, body);
	static const char *const bad[] = {
		"o\n012\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",   /* leading zero */
		"o\n12x\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
		"o\n12\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2=\n",     /* 31 bytes */
		"\n12\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",    /* no origin */
		"o\n12\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n", /* empty extension */
		"o\n12\n",
		"o\n99999999999999999999\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (checkpoint_parse(bad[i], strlen(bad[i]), &c) == VG_OK)
			fail_msg("accepted bad checkpoint %zu", i);
	static const char ext[] = "o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\next line\n";
	assert_int_equal(checkpoint_parse(ext, strlen(ext), &c), VG_OK);
	assert_int_equal(c.size, 0);
}

static void test_base64(void **state)
{
	(void)state;
	char out[16];
	uint8_t back[8];
	static const char *const vec[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
	for (size_t n = 0; n <= 6; n++) {
		base64_encode((const uint8_t *)"foobar", n, out);
		assert_string_equal(out, vec[n]);
		assert_int_equal(base64_decode(vec[n], strlen(vec[n]), back, sizeof(back)), (int)n);
		assert_memory_equal(back, "foobar", n);
	}
	assert_int_equal(base64_decode("Zh==", 4, back, sizeof(back)), -1); /* non-canonical */
	assert_int_equal(base64_decode("Zg=a", 4, back, sizeof(back)), -1);
	assert_int_equal(base64_decode("Zg", 2, back, sizeof(back)), -1);
	assert_int_equal(base64_decode("Z!==", 4, back, sizeof(back)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_example_verifier),
		cmocka_unit_test(test_example_sign_and_open),
		cmocka_unit_test(test_checkpoint),
		cmocka_unit_test(test_base64),
	};
	return cmocka_run_group_tests_name("note", tests, NULL, NULL);
}
