/* SPDX-License-Identifier: MIT */
/*
 * TLS credentials from a struct vmmig_tls_config: x509 files in QEMU's
 * tls-creds-x509 layout, or a QEMU keys.psk file, plus the priority string.
 * Everything is read and checked here, once per session, so that a bad file
 * fails the set call instead of every handshake.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tls_priv.h"

#define PSK_DEFAULT_IDENTITY "vmmig"
#define PSK_MAX_LINE 1024
/*
 * NORMAL's ciphers, AES-128-GCM first: NORMAL puts AES-256-GCM first, which
 * costs ~40 % more CPU per byte (14 AES rounds, not 10) for a margin no
 * migration needs; ChaCha20 stays for a peer without AES-NI. CBC is left
 * out: both ends are this library, which has AEAD everywhere.
 */
#define PRIO_CIPHERS "-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:" \
		     "+CHACHA20-POLY1305:+AES-128-CCM:+AES-256-CCM"
#define PRIO_X509 "NORMAL:" PRIO_CIPHERS
/* TLS 1.3 takes PSK with (EC)DHE; TLS 1.2 needs the PSK kx named. */
#define PRIO_PSK "NORMAL:" PRIO_CIPHERS ":+ECDHE-PSK:+DHE-PSK:+PSK"

/* Fields past psk_file exist only if the caller's struct has them. */
#define HAS(cfg, f) ((cfg)->struct_size >= \
		     offsetof(struct vmmig_tls_config, f) + sizeof((cfg)->f))

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* "IDENTITY:HEXKEY" (the newline already cut) into @k. */
static int parse_psk_line(char *line, struct psk_key *k)
{
	char *colon = strchr(line, ':');
	size_t hlen;

	if (!colon || colon == line)
		return -EINVAL;
	*colon = '\0';
	hlen = strlen(colon + 1);
	if (!hlen || hlen % 2)
		return -EINVAL;
	k->len = hlen / 2;
	k->key = malloc(k->len);
	k->identity = strdup(line);
	if (!k->key || !k->identity)
		return -ENOMEM;
	for (size_t i = 0; i < k->len; i++) {
		int hi = hexval(colon[1 + 2 * i]), lo = hexval(colon[2 + 2 * i]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		k->key[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

static void free_keys(struct tls_creds *cr)
{
	for (unsigned i = 0; i < cr->nkeys; i++) {
		free(cr->keys[i].identity);
		if (cr->keys[i].key)
			memset(cr->keys[i].key, 0, cr->keys[i].len);
		free(cr->keys[i].key);
	}
	free(cr->keys);
	cr->keys = NULL;
	cr->nkeys = 0;
}

static int load_psk_file(struct tls_creds *cr, const char *path, char *err,
			 size_t errlen)
{
	char line[PSK_MAX_LINE];
	unsigned lineno = 0;
	int ret = 0;
	FILE *f = fopen(path, "re");

	if (!f) {
		ret = -errno;
		snprintf(err, errlen, "tls: PSK file %s: %s", path,
			 strerror_r(-ret, line, sizeof(line)));
		return ret;
	}
	while (!ret && fgets(line, sizeof(line), f)) {
		size_t n = strcspn(line, "\r\n");
		struct psk_key *k;

		lineno++;
		if (line[n] == '\0' && !feof(f)) {
			ret = -EINVAL; /* longer than any sane key line */
			break;
		}
		line[n] = '\0';
		if (!n)
			continue;
		k = realloc(cr->keys, (cr->nkeys + 1) * sizeof(*k));
		if (!k) {
			ret = -ENOMEM;
			break;
		}
		cr->keys = k;
		k = &cr->keys[cr->nkeys++];
		*k = (struct psk_key){ 0 };
		ret = parse_psk_line(line, k);
	}
	memset(line, 0, sizeof(line));
	fclose(f);
	if (!ret && !cr->nkeys)
		ret = -EINVAL;
	if (ret == -EINVAL)
		snprintf(err, errlen, "tls: PSK file %s: %s at line %u "
			 "(expected IDENTITY:HEXKEY lines)", path,
			 cr->nkeys ? "malformed key" : "no key", lineno);
	return ret;
}

static const struct psk_key *find_key(const struct tls_creds *cr,
				      const char *identity)
{
	for (unsigned i = 0; i < cr->nkeys; i++)
		if (!strcmp(cr->keys[i].identity, identity))
			return &cr->keys[i];
	return NULL;
}

/* Server: the key of the identity the client presented (-1: unknown). */
static int psk_lookup(gnutls_session_t s, const char *identity,
		      gnutls_datum_t *key)
{
	const struct tls_creds *cr = gnutls_session_get_ptr(s);
	const struct psk_key *k = cr ? find_key(cr, identity) : NULL;

	if (!k)
		return -1;
	key->data = gnutls_malloc(k->len);
	if (!key->data)
		return -1;
	memcpy(key->data, k->key, k->len);
	key->size = (unsigned)k->len;
	return 0;
}

static int setup_psk(struct tls_creds *cr, const struct vmmig_tls_config *cfg,
		     char *err, size_t errlen)
{
	const char *id = HAS(cfg, psk_identity) && cfg->psk_identity
				 ? cfg->psk_identity : PSK_DEFAULT_IDENTITY;
	const struct psk_key *k;
	gnutls_datum_t d;
	int ret = load_psk_file(cr, cfg->psk_file, err, errlen);

	if (ret)
		return ret;
	if (cr->server) {
		if (gnutls_psk_allocate_server_credentials(&cr->psk_srv))
			return -ENOMEM;
		gnutls_psk_set_server_credentials_function(cr->psk_srv,
							   psk_lookup);
		return 0;
	}
	k = find_key(cr, id);
	if (!k) {
		snprintf(err, errlen, "tls: PSK file %s has no key for "
			 "identity '%s'", cfg->psk_file, id);
		return -EINVAL;
	}
	if (gnutls_psk_allocate_client_credentials(&cr->psk_cli))
		return -ENOMEM;
	d = (gnutls_datum_t){ k->key, (unsigned)k->len };
	ret = gnutls_psk_set_client_credentials(cr->psk_cli, id, &d,
						GNUTLS_PSK_KEY_RAW);
	/* The client keeps its own copy; ours served the lookup only. */
	free_keys(cr);
	if (ret) {
		snprintf(err, errlen, "tls: PSK identity '%s': %s", id,
			 gnutls_strerror(ret));
		return -EINVAL;
	}
	return 0;
}

/* @dir/@name into @buf; readable, or why not. */
static int x509_path(const char *dir, const char *name, char *buf,
		     size_t len, char *err, size_t errlen)
{
	int n = snprintf(buf, len, "%s/%s", dir, name);

	if (n < 0 || (size_t)n >= len) {
		snprintf(err, errlen, "tls: path too long: %s/%s", dir, name);
		return -ENAMETOOLONG;
	}
	if (access(buf, R_OK)) {
		int ret = -errno;
		char eb[64];

		snprintf(err, errlen, "tls: %s: %s", buf,
			 strerror_r(-ret, eb, sizeof(eb)));
		return ret;
	}
	return 0;
}

static int setup_x509(struct tls_creds *cr, const char *dir, char *err,
		      size_t errlen)
{
	const char *role = cr->server ? "server" : "client";
	char ca[4096], cert[4096], key[4096], name[32];
	int ret;

	ret = x509_path(dir, "ca-cert.pem", ca, sizeof(ca), err, errlen);
	snprintf(name, sizeof(name), "%s-cert.pem", role);
	if (!ret)
		ret = x509_path(dir, name, cert, sizeof(cert), err, errlen);
	snprintf(name, sizeof(name), "%s-key.pem", role);
	if (!ret)
		ret = x509_path(dir, name, key, sizeof(key), err, errlen);
	if (ret)
		return ret;
	if (gnutls_certificate_allocate_credentials(&cr->cert))
		return -ENOMEM;
	ret = gnutls_certificate_set_x509_trust_file(cr->cert, ca,
						     GNUTLS_X509_FMT_PEM);
	if (ret <= 0) {
		snprintf(err, errlen, "tls: %s: %s", ca,
			 ret ? gnutls_strerror(ret) : "no certificate");
		return -EINVAL;
	}
	ret = gnutls_certificate_set_x509_key_file(cr->cert, cert, key,
						   GNUTLS_X509_FMT_PEM);
	if (ret < 0) {
		snprintf(err, errlen, "tls: %s / %s: %s", cert, key,
			 gnutls_strerror(ret));
		return -EINVAL;
	}
	return 0;
}

int tls_creds_new(const struct vmmig_tls_config *cfg, bool server,
		  struct tls_creds **out, char *err, size_t errlen)
{
	struct tls_creds *cr;
	const char *prio;
	int ret;

	*out = NULL;
	if (!cfg || !HAS(cfg, psk_file) || !cfg->x509_dir == !cfg->psk_file) {
		snprintf(err, errlen, "tls: set exactly one of x509_dir and "
			 "psk_file");
		return -EINVAL;
	}
	cr = calloc(1, sizeof(*cr));
	if (!cr)
		return -ENOMEM;
	cr->server = server;
	cr->x509 = cfg->x509_dir != NULL;
	ret = cr->x509 ? setup_x509(cr, cfg->x509_dir, err, errlen)
		       : setup_psk(cr, cfg, err, errlen);
	if (ret)
		goto fail;
	prio = HAS(cfg, priority) && cfg->priority ? cfg->priority
		 : cr->x509 ? PRIO_X509 : PRIO_PSK;
	if (HAS(cfg, hostname) && cfg->hostname) {
		cr->hostname = strdup(cfg->hostname);
		if (!cr->hostname) {
			ret = -ENOMEM;
			goto fail;
		}
	}
	ret = gnutls_priority_init(&cr->prio, prio, NULL);
	if (ret) {
		snprintf(err, errlen, "tls: priority string '%s': %s", prio,
			 gnutls_strerror(ret));
		ret = -EINVAL;
		goto fail;
	}
	*out = cr;
	return 0;
fail:
	tls_creds_free(cr);
	return ret;
}

void tls_creds_free(struct tls_creds *cr)
{
	if (!cr)
		return;
	if (cr->prio)
		gnutls_priority_deinit(cr->prio);
	if (cr->cert)
		gnutls_certificate_free_credentials(cr->cert);
	if (cr->psk_cli)
		gnutls_psk_free_client_credentials(cr->psk_cli);
	if (cr->psk_srv)
		gnutls_psk_free_server_credentials(cr->psk_srv);
	free_keys(cr);
	free(cr->hostname);
	free(cr);
}

const char *tls_creds_hostname(const struct tls_creds *cr)
{
	return cr->hostname;
}

bool tls_creds_x509(const struct tls_creds *cr)
{
	return cr->x509;
}
