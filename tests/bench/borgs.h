/*
 * borgs.h - the many member organisations of the mixed benchmark: their
 * ids, roles and countries (a pure function of their number), and a
 * generator that makes each one a key, a certificate signed by the
 * development CA and a line in the member directory.
 *
 * Organisation i of n is "mx-ROLE-NNNN": every tenth a coordinator, then
 * four iom field offices, three shelters and two police units; iom offices
 * are in a few return countries, the others in SE.  The generated members
 * have no encryption certificate, so they read no sealed text (records
 * about their cases carry no sealed notes).
 *
 * borgs_make() writes PKI_DIR/ID.key (PKCS#8, mode 0600) and ID.crt (ECDSA
 * P-256, clientAuth, valid from an hour ago for 30 days, issued by
 * PKI_DIR/ca.crt with ca.key) for each organisation, and appends one
 * section per organisation to PKI_DIR/directory.conf, so that
 * bident_load(PKI_DIR, ID, ...) loads it like a sample organisation.
 */
#ifndef VIGIL_TESTS_BENCH_BORGS_H
#define VIGIL_TESTS_BENCH_BORGS_H

#include <stddef.h>

#define BORGS_ID_MAX 32

enum borgs_role { BORGS_COORDINATOR, BORGS_IOM, BORGS_SHELTER, BORGS_POLICE };

enum borgs_role borgs_role(size_t i);
/* The organisation id of organisation i, in out (BORGS_ID_MAX bytes). */
void borgs_id(size_t i, char out[BORGS_ID_MAX]);
/* The role's name as the certificate's OU and the directory say it. */
const char *borgs_role_name(enum borgs_role r);

/* Makes organisations 0..n-1 (see above).  0, or -1 with a reason in err. */
int borgs_make(const char *pki_dir, size_t n, char *err, size_t err_len);

#endif
