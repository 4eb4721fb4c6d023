/*
 * tls: the server TLS context for STARTTLS (OpenSSL 3).
 *
 * Loaded before the chroot (the key file is not in the jail).  TLS 1.2
 * and later; renegotiation off (a client could otherwise make us do
 * handshakes forever); no session tickets state across workers.
 */
#include <stdio.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "smtp.h"

SSL_CTX *
tls_server_ctx(const struct conf *conf, char *err, size_t errsize)
{
	SSL_CTX *ctx;

	err[0] = '\0';
	if (conf->tls_cert[0] == '\0')
		return NULL;
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		goto fail;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (SSL_CTX_use_certificate_chain_file(ctx, conf->tls_cert) != 1) {
		snprintf(err, errsize, "cannot load certificate %s",
		    conf->tls_cert);
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, conf->tls_key,
	    SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errsize, "cannot load key %s (or it does not "
		    "match the certificate)", conf->tls_key);
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
fail:
	snprintf(err, errsize, "TLS: %s",
	    ERR_reason_error_string(ERR_get_error()));
	return NULL;
}

const char *
tls_describe(SSL *ssl, char *buf, size_t size)
{
	if (ssl == NULL) {
		snprintf(buf, size, "none");
		return buf;
	}
	snprintf(buf, size, "%s:%s", SSL_get_version(ssl),
	    SSL_get_cipher_name(ssl));
	return buf;
}
