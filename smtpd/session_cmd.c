/*
 * session_cmd: the SMTP commands (RFC 5321, 2920, 1870, 6152, 3207).
 *
 * A table maps each verb to its handler and flags: whether it needs HELO
 * first, and whether it must be the last of a pipelined group (RFC 2920
 * 3.1: EHLO/HELO and DATA change state, so a client that sends more
 * behind them without waiting for the reply is not speaking SMTP; that is
 * how spamware and smuggling attempts look, and it gets 554 and a close).
 * Handlers check, reply and log; policy decisions come from check_*.c.
 */
#include <sys/mman.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "../dnsbl/client.h"
#include "../dnsbl/sender.h"
#include "../greylist/blocks.h"
#include "../greylist/greylist.h"
#include "../greylist/rates.h"
#include "check.h"
#include "limits.h"
#include "log.h"
#include "smtp.h"

#define F_NEED_HELO	0x01
#define F_LAST		0x02	/* must end a pipelined group */
#define F_TX		0x04	/* starts or uses a transaction */

struct cmdent {
	enum cmd_verb	verb;
	void		(*fn)(struct session *, const char *, size_t);
	int		flags;
};

static void cmd_helo(struct session *, const char *, size_t);
static void cmd_ehlo(struct session *, const char *, size_t);
static void cmd_mail(struct session *, const char *, size_t);
static void cmd_rcpt(struct session *, const char *, size_t);
static void cmd_data(struct session *, const char *, size_t);
static void cmd_rset(struct session *, const char *, size_t);
static void cmd_noop(struct session *, const char *, size_t);
static void cmd_quit(struct session *, const char *, size_t);
static void cmd_vrfy(struct session *, const char *, size_t);
static void cmd_help(struct session *, const char *, size_t);
static void cmd_starttls(struct session *, const char *, size_t);

static const struct cmdent cmdtab[] = {
	{ CMD_HELO,	cmd_helo,	F_LAST },
	{ CMD_EHLO,	cmd_ehlo,	F_LAST },
	{ CMD_MAIL,	cmd_mail,	F_NEED_HELO | F_TX },
	{ CMD_RCPT,	cmd_rcpt,	F_NEED_HELO | F_TX },
	{ CMD_DATA,	cmd_data,	F_NEED_HELO | F_TX | F_LAST },
	{ CMD_RSET,	cmd_rset,	0 },
	{ CMD_NOOP,	cmd_noop,	0 },
	{ CMD_QUIT,	cmd_quit,	0 },
	{ CMD_VRFY,	cmd_vrfy,	0 },
	{ CMD_EXPN,	cmd_vrfy,	0 },
	{ CMD_HELP,	cmd_help,	0 },
	{ CMD_STARTTLS,	cmd_starttls,	F_NEED_HELO },
};

/*
 * One refusal: its log line, then its reply.  bad: a 5xx counts against
 * max_bad_commands (and past it becomes the 421).
 */
static void
session_refuse(struct session *s, const char *stage, const struct verdict *v,
    const char *rcpt, int bad)
{
	session_log_reject(s, stage, v, rcpt);
	if (bad && v->code >= 500)
		session_bad(s, v->code, v->enh, v->text);
	else
		session_reply(s, v->code, v->enh, "%s", v->text);
}

static void
session_protocol_close(struct session *s, const char *what)
{
	struct verdict v;

	verdict_set(&v, V_REJECT, 554, "5.5.0", "protocol", "%s", what);
	session_log_reject(s, "command", &v, NULL);
	session_reply(s, 554, "5.5.0", "Error: %s", what);
	session_closing(s, "protocol");
}

void
tx_free(struct session *s)
{
	struct tx *tx = s->tx;
	struct rcpt *r, *next;

	if (tx == NULL)
		return;
	for (r = tx->rcpts; r != NULL; r = next) {
		next = r->next;
		free(r);
	}
	if (tx->memfd != -1)
		close(tx->memfd);
	free(tx);
	s->tx = NULL;
	dns_sender_free(s);
}

static void
tx_new(struct session *s)
{
	tx_free(s);
	if ((s->tx = calloc(1, sizeof(*s->tx))) == NULL)
		return;
	s->tx->memfd = -1;
	s->tx->rcpt_tail = &s->tx->rcpts;
}

void
session_command(struct session *s, const char *line, size_t len,
    int more_input)
{
	const struct cmdent *ce = NULL;
	enum cmd_error err;
	struct cmd c;
	size_t i;

	err = cmd_parse(line, len, &c);
	if (c.verb == CMD_RCPT && s->tx != NULL &&
	    (!dns_client_done(s) || !dns_sender_done(s))) {
		s->dns_wait = 1;	/* the line runs again with the verdict */
		return;
	}
	if (++s->ncmds > wk->conf->max_commands) {
		session_reply(s, 421, "4.7.0", "%s Error: too many commands",
		    wk->conf->hostname);
		session_closing(s, "commands");
		return;
	}
	if (err == CMD_ERR_NUL || err == CMD_ERR_BARE_CR) {
		session_bad(s, 500, "5.5.2", "Error: bad syntax");
		return;
	}
	if (c.verb == CMD_HTTP) {
		session_protocol_close(s, "this is not a web server");
		return;
	}
	if (s->state == S_REJECTED) {
		if (c.verb == CMD_QUIT)
			cmd_quit(s, c.arg, c.arglen);
		else
			session_bad(s, 503, "5.5.1",
			    "Error: access denied, send QUIT");
		return;
	}
	for (i = 0; i < sizeof(cmdtab) / sizeof(cmdtab[0]); i++)
		if (cmdtab[i].verb == c.verb)
			ce = &cmdtab[i];
	if (ce == NULL) {
		/* RFC 5321 4.2.4: 502 is known but not offered, 500 unknown */
		if (c.verb == CMD_UNKNOWN)
			session_bad(s, 500, "5.5.2",
			    "Error: command not recognized");
		else
			session_bad(s, 502, "5.5.1",
			    "Error: command not implemented");
		return;
	}
	if ((ce->flags & F_LAST) && more_input) {
		session_protocol_close(s, "improper command pipelining");
		return;
	}
	if ((ce->flags & F_NEED_HELO) && !s->helo_seen) {
		session_bad(s, 503, "5.5.1", "Error: send HELO/EHLO first");
		return;
	}
	ce->fn(s, c.arg, c.arglen);
}

/* ---- HELO / EHLO ---- */

static int
session_helo_common(struct session *s, const char *arg, size_t len,
    const char *verb)
{
	struct verdict v;
	struct kv k;

	tx_free(s);
	check_helo(s, arg, len, &v);
	if (v.kind == V_REJECT || v.kind == V_TEMPFAIL) {
		s->helo_seen = 0;
		/* the refused name goes in the log line, then is forgotten */
		snprintf(s->helo, sizeof(s->helo), "%.*s",
		    (int)(len < 255 ? len : 255), arg);
		session_refuse(s, "helo", &v, NULL, 1);
		s->helo[0] = '\0';
		return -1;
	}
	snprintf(s->helo, sizeof(s->helo), "%.*s", (int)len, arg);
	s->helo_seen = 1;
	kv_begin(&k, "helo");
	kv_id(&k, "session", s->id);
	kv_str(&k, "ip", s->ip);
	kv_str(&k, "verb", verb);
	kv_str(&k, "name", s->helo);
	kv_emit(&k);
	return 0;
}

static void
cmd_helo(struct session *s, const char *arg, size_t len)
{
	if (session_helo_common(s, arg, len, "HELO") == -1)
		return;
	s->esmtp = 0;
	session_reply(s, 250, NULL, "%s", wk->conf->hostname);
}

static void
cmd_ehlo(struct session *s, const char *arg, size_t len)
{
	if (session_helo_common(s, arg, len, "EHLO") == -1)
		return;
	s->esmtp = 1;
	buf_appendf(&s->out, "250-%s\r\n", wk->conf->hostname);
	buf_appendf(&s->out, "250-PIPELINING\r\n");
	buf_appendf(&s->out, "250-SIZE %llu\r\n",
	    (unsigned long long)wk->conf->max_message_size);
	buf_appendf(&s->out, "250-8BITMIME\r\n");
	if (wk->tls != NULL && !s->tls_done)
		buf_appendf(&s->out, "250-STARTTLS\r\n");
	buf_appendf(&s->out, "250 ENHANCEDSTATUSCODES\r\n");
}

/* ---- MAIL ---- */

/* The parent checks the spool's free space every second (limits.h). */
static int
spool_has_room(void)
{
	return !limits_spool_low();
}

static void
reply_addr_error(struct session *s, enum addr_error e, const char *stage,
    const char *what)
{
	struct verdict v;
	char cls[64];

	switch (e) {
	case ADDR_NON_ASCII:
		snprintf(cls, sizeof(cls), "%s:non-ascii", what);
		verdict_set(&v, V_REJECT, 553, "5.6.7", cls,
		    "Address needs SMTPUTF8, which is not offered");
		break;
	case ADDR_NO_DOMAIN:
		snprintf(cls, sizeof(cls), "%s:no-domain", what);
		verdict_set(&v, V_REJECT, 553, "5.1.3", cls,
		    "Address must have a domain");
		break;
	case ADDR_BAD_DOMAIN:
		snprintf(cls, sizeof(cls), "%s:bad-domain", what);
		verdict_set(&v, V_REJECT, 553, "5.1.3", cls,
		    "Invalid domain in address");
		break;
	case ADDR_TOO_LONG:
		snprintf(cls, sizeof(cls), "%s:too-long", what);
		verdict_set(&v, V_REJECT, 553, "5.1.3", cls,
		    "Address too long");
		break;
	default:
		snprintf(cls, sizeof(cls), "%s:syntax", what);
		verdict_set(&v, V_REJECT, 501, strcmp(what, "sender") == 0 ?
		    "5.1.7" : "5.1.3", cls, "Bad address syntax");
		break;
	}
	session_refuse(s, stage, &v, NULL, 1);
}

/* Skip "FROM:" / "TO:" (case-insensitive) and optional spaces. */
static const char *
skip_prefix(const char *arg, size_t len, const char *prefix, size_t *rest)
{
	size_t n = strlen(prefix);

	if (len < n || strncasecmp(arg, prefix, n) != 0)
		return NULL;
	arg += n;
	len -= n;
	while (len > 0 && *arg == ' ') {
		arg++;
		len--;
	}
	*rest = len;
	return arg;
}

/* Look the sender's domain up? 1 when the lookups started. */
static int
sender_dns_start(struct session *s, const struct addr *a)
{
	if (s->client_ok || a->null || a->literal || a->domain[0] == '\0' ||
	    !dns_sender_wanted(wk->conf))
		return 0;
	return dns_sender_start(s, a->domain) == 0;
}

/*
 * MAIL's reply, once the sender's DNS verdict is in or not needed: with
 * delay_reject off a refusal is given here, else at each RCPT.
 */
void
session_mail_reply(struct session *s)
{
	struct tx *tx = s->tx;

	if (tx == NULL)
		return;
	if (!wk->conf->delay_reject && tx->dns_held.kind != V_PASS) {
		if (!tx->dns_held_log_only) {
			session_refuse(s, "mail", &tx->dns_held, NULL, 0);
			tx_free(s);
			return;
		}
		session_log_would(s, "mail", &tx->dns_held, NULL);
		verdict_pass(&tx->dns_held);
	}
	session_reply(s, 250, "2.1.0", "Ok");
}

static void
cmd_mail(struct session *s, const char *arg, size_t len)
{
	struct mail_params mp;
	struct verdict v;
	struct addr a;
	const char *p, *rest;
	char badkey[64];
	size_t plen;
	enum addr_error ae;
	enum param_error pe;

	if (s->tx != NULL) {
		session_bad(s, 503, "5.5.1", "Error: nested MAIL command");
		return;
	}
	if ((p = skip_prefix(arg, len, "FROM:", &plen)) == NULL) {
		session_bad(s, 501, "5.5.4", "Syntax: MAIL FROM:<address>");
		return;
	}
	ae = addr_parse(p, plen, 1, 0, &a, &rest);
	if (ae != ADDR_OK) {
		reply_addr_error(s, ae, "mail", "sender");
		return;
	}
	memset(&mp, 0, sizeof(mp));
	pe = mail_params_parse(rest, plen - (size_t)(rest - p), &mp, badkey,
	    sizeof(badkey));
	if (pe == PARAM_OK && mp.smtputf8) {
		pe = PARAM_UNKNOWN;
		snprintf(badkey, sizeof(badkey), "SMTPUTF8");
	}
	if (pe != PARAM_OK) {
		if (pe == PARAM_UNKNOWN)
			session_bad(s, 555, "5.5.4",
			    "Unsupported MAIL parameter");
		else
			session_bad(s, 501, "5.5.4", "Bad MAIL parameter");
		return;
	}
	if (mp.size_set && mp.size > wk->conf->max_message_size) {
		verdict_set(&v, V_REJECT, 552, "5.3.4", "size",
		    "Message size exceeds fixed limit");
		session_refuse(s, "mail", &v, NULL, 0);
		return;
	}
	if (session_rate_limited(s, LIMIT_MSGS_PER_CONN, "mail") ||
	    session_rate_limited(s, RATE_MSG, "mail"))
		return;
	if (!spool_has_room()) {
		verdict_set(&v, V_TEMPFAIL, 452, "4.3.1", "spool",
		    "Insufficient system storage");
		session_refuse(s, "mail", &v, NULL, 0);
		return;
	}
	check_sender(s, &a, &v);
	tx_new(s);
	if (s->tx == NULL) {
		session_reply(s, 451, "4.3.0", "Error: out of memory");
		return;
	}
	s->tx->sender = a;		/* the log line names the sender */
	if (v.kind == V_REJECT || v.kind == V_TEMPFAIL) {
		if (strcmp(v.cls, "sender:forged-local") == 0)
			block_event((const struct sockaddr *)&s->peer,
			    BLOCK_FORGED);
		session_refuse(s, "mail", &v, NULL, 0);
		tx_free(s);
		return;
	}
	s->tx->params = mp;
	if (sender_dns_start(s, &a) && !dns_sender_done(s) &&
	    !wk->conf->delay_reject) {
		s->mail_wait = 1;	/* session_sender_done() answers */
		return;
	}
	session_sender_verdict(s);
	session_mail_reply(s);
}

/* ---- RCPT ---- */

/* dns_action = log: what the held verdicts would refuse, logged once. */
static void
log_held_once(struct session *s, const char *rcpt)
{
	struct tx *tx = s->tx;

	if (s->delayed_log_only && s->delayed.kind != V_PASS) {
		session_log_would(s, "rcpt", &s->delayed, rcpt);
		verdict_pass(&s->delayed);
		s->delayed_log_only = 0;
	}
	if (tx->dns_held_log_only && tx->dns_held.kind != V_PASS) {
		session_log_would(s, "rcpt", &tx->dns_held, rcpt);
		verdict_pass(&tx->dns_held);
	}
}

static void
rcpt_refused(struct session *s, const struct verdict *v, const char *to)
{
	s->nrcpt_bad++;
	if (strcmp(v->cls, "unknown-recipient") == 0 &&
	    wk->conf->rcpt_errors_per_conn != 0) {
		s->nunknown++;
		if (session_rate_limited(s, LIMIT_RCPT_ERRORS, "rcpt"))
			return;	/* a dictionary attack: this one ends it */
		session_refuse(s, "rcpt", v, to, 0);	/* its own limit */
		return;
	}
	session_refuse(s, "rcpt", v, to, 1);
}

static void
cmd_rcpt(struct session *s, const char *arg, size_t len)
{
	struct verdict v;
	struct addr a;
	struct rcpt *r;
	const char *p, *rest;
	char badkey[64];
	size_t plen;
	enum addr_error ae;

	if (s->tx == NULL) {
		session_bad(s, 503, "5.5.1", "Error: need MAIL command");
		return;
	}
	if ((p = skip_prefix(arg, len, "TO:", &plen)) == NULL) {
		session_bad(s, 501, "5.5.4", "Syntax: RCPT TO:<address>");
		return;
	}
	ae = addr_parse(p, plen, 0, 0, &a, &rest);
	if (ae == ADDR_NO_DOMAIN && strcasecmp(a.local, "postmaster") == 0) {
		ae = ADDR_OK;		/* RFC 5321 4.1.1.3: <postmaster> */
		snprintf(a.text, sizeof(a.text), "postmaster");
		a.domain[0] = '\0';
	} else if (ae == ADDR_OK) {
		if (rcpt_params_parse(rest, plen - (size_t)(rest - p), badkey,
		    sizeof(badkey)) != PARAM_OK) {
			session_bad(s, 555, "5.5.4",
			    "Unsupported RCPT parameter");
			return;
		}
	}
	if (ae != ADDR_OK) {
		s->nrcpt_bad++;
		reply_addr_error(s, ae, "rcpt", "recipient");
		return;
	}
	if (s->tx->nrcpt >= wk->conf->max_recipients ||
	    s->tx->env_bytes + strlen(a.text) + 8 > TX_ENVELOPE_MAX) {
		verdict_set(&v, V_TEMPFAIL, 452, "4.5.3", "recipients",
		    "Too many recipients");
		rcpt_refused(s, &v, a.text);
		return;
	}
	log_held_once(s, a.text);
	if (a.domain[0] != '\0')
		check_rcpt(s, &a, &v);
	else if (!check_held(s, &v))
		verdict_pass(&v);
	if (v.kind == V_REJECT || v.kind == V_TEMPFAIL) {
		rcpt_refused(s, &v, a.text);
		return;
	}
	if (session_rate_limited(s, RATE_RCPT, "rcpt"))
		return;
	greylist_rcpt(s, a.text, &v);	/* logs its own line */
	if (v.kind == V_TEMPFAIL) {
		session_reply(s, v.code, v.enh, "%s", v.text);
		return;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		session_reply(s, 451, "4.3.0", "Error: out of memory");
		return;
	}
	snprintf(r->addr, sizeof(r->addr), "%s", a.text);
	s->tx->env_bytes += strlen(r->addr) + 8;
	*s->tx->rcpt_tail = r;
	s->tx->rcpt_tail = &r->next;
	s->tx->nrcpt++;
	s->nrcpt_ok++;
	session_reply(s, 250, "2.1.5", "Ok");
}

/* ---- DATA ---- */

static void
cmd_data(struct session *s, const char *arg, size_t len)
{
	struct buf hdr;

	if (len != 0) {
		session_bad(s, 501, "5.5.4", "Syntax: DATA");
		return;
	}
	if (s->tx == NULL) {
		session_bad(s, 503, "5.5.1", "Error: need MAIL command");
		return;
	}
	if (s->tx->nrcpt == 0) {
		session_bad(s, 554, "5.5.1", "Error: no valid recipients");
		return;
	}
	qid_make(s->tx->qid);
	s->tx->memfd = memfd_create("moat-message", MFD_CLOEXEC |
	    MFD_ALLOW_SEALING);
	buf_init(&hdr, 4096);
	if (s->tx->memfd == -1 || received_header(s, &hdr) == -1 ||
	    fd_write_all(s->tx->memfd, hdr.data, hdr.len) == -1) {
		log_warn("message file for session %016llx",
		    (unsigned long long)s->id);
		buf_free(&hdr);
		tx_free(s);
		session_reply(s, 451, "4.3.0", "Error: local error");
		return;
	}
	buf_free(&hdr);
	data_init(&s->tx->dp, wk->conf->bare_lf, wk->conf->max_message_size,
	    wk->conf->max_hops);
	s->tx->data_start = time(NULL);
	s->state = S_DATA;
	s->deadline = time(NULL) + wk->conf->data_timeout;
	session_reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
}

static void
data_refused(struct session *s, int code, const char *enh, const char *cls,
    const char *text)
{
	struct verdict v;

	verdict_set(&v, code >= 500 ? V_REJECT : V_TEMPFAIL, code, enh, cls,
	    "%s", text);
	session_refuse(s, "data", &v, NULL, 0);
	tx_free(s);
	s->state = S_CMD;
}

/* What the filters learn beyond the envelope (filters/README.md). */
static void
commit_put_evidence(struct session *s, struct frame *f)
{
	char tls[128] = "", dnsbl[1024];

	if (s->ssl != NULL && s->tls_done)
		(void)tls_describe(s->ssl, tls, sizeof(tls));
	dns_client_listings(s, dnsbl, sizeof(dnsbl));
	frame_put_u32(f, s->port);
	frame_put_str(f, dns_client_ptr_any(s));
	frame_put_u32(f, dns_client_ptr(s)[0] != '\0');
	frame_put_str(f, tls);
	frame_put_str(f, dnsbl);
	frame_put_str(f, s->tx->greylist != NULL ? s->tx->greylist : "");
}

static void
data_commit(struct session *s)
{
	const struct conf *cf = wk->conf;
	struct frame f;
	struct rcpt *r;

	frame_init(&f, FRAME_COMMIT);
	frame_put_u64(&f, s->id);
	frame_put_str(&f, s->tx->qid);
	frame_put_str(&f, s->ip);
	frame_put_str(&f, dns_client_ptr(s));
	frame_put_str(&f, s->helo);
	frame_put_str(&f, s->tx->sender.null ? "" : s->tx->sender.text);
	frame_put_u32(&f, s->tx->nrcpt);
	for (r = s->tx->rcpts; r != NULL; r = r->next)
		frame_put_str(&f, r->addr);
	frame_put_u64(&f, (uint64_t)lseek(s->tx->memfd, 0, SEEK_END));
	commit_put_evidence(s, &f);
	/* what the filters read is what is stored: nobody may change it */
	if (fcntl(s->tx->memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
	    F_SEAL_WRITE | F_SEAL_SEAL) == -1)
		log_warn("sealing the message of qid=%s", s->tx->qid);
	if (worker_queue_send(&f, s->tx->memfd) == -1) {
		log_warn("queue: cannot hand over qid=%s", s->tx->qid);
		s->state = S_CMD;
		session_reply(s, 451, "4.3.0", "Error: queue unavailable, "
		    "try again later");
		tx_free(s);
		return;
	}
	s->state = S_COMMIT;
	/* the filters may take their time, one after the other */
	s->deadline = time(NULL) + cf->command_timeout +
	    (time_t)cf->nfilters * cf->filter_timeout;
}

void
session_data_input(struct session *s)
{
	struct dataparse *dp = &s->tx->dp;
	char out[2 * 8192 + 8];
	size_t chunk, used, outlen;

	while (s->in.len > 0 && !dp->done) {
		chunk = s->in.len < 8192 ? s->in.len : 8192;
		used = data_feed(dp, s->in.data, chunk, out, sizeof(out),
		    &outlen);
		if (outlen > 0 && dp->error == DATA_OK &&
		    fd_write_all(s->tx->memfd, out, outlen) == -1) {
			log_warn("message file for qid=%s", s->tx->qid);
			dp->error = DATA_ERR_SIZE + 100;
		}
		buf_consume(&s->in, used);
	}
	if (!dp->done)
		return;
	switch ((int)dp->error) {
	case DATA_OK:
		data_commit(s);
		return;
	case DATA_ERR_BARE_LF:
		data_refused(s, 550, "5.5.2", "protocol",
		    "Bare LF or CR in message: lines must end in CRLF");
		return;
	case DATA_ERR_SIZE:
		data_refused(s, 552, "5.3.4", "size",
		    "Message size exceeds fixed limit");
		return;
	case DATA_ERR_HOPS:
		data_refused(s, 554, "5.4.6", "loop",
		    "Too many Received headers: mail loop");
		return;
	default:
		data_refused(s, 451, "4.3.0", "local",
		    "Error: local error, try again later");
		return;
	}
}

/* ---- the rest ---- */

static void
cmd_rset(struct session *s, const char *arg, size_t len)
{
	tx_free(s);
	session_reply(s, 250, "2.0.0", "Ok");
}

static void
cmd_noop(struct session *s, const char *arg, size_t len)
{
	session_reply(s, 250, "2.0.0", "Ok");
}

static void
cmd_quit(struct session *s, const char *arg, size_t len)
{
	session_reply(s, 221, "2.0.0", "Bye");
	session_closing(s, "quit");
}

static void
cmd_vrfy(struct session *s, const char *arg, size_t len)
{
	/* never tell a harvester whether a user exists */
	session_reply(s, 252, "2.5.2", "Cannot VRFY user; send some mail");
}

static void
cmd_help(struct session *s, const char *arg, size_t len)
{
	session_reply(s, 214, "2.0.0", "See RFC 5321; commands: HELO EHLO "
	    "MAIL RCPT DATA RSET NOOP QUIT VRFY HELP STARTTLS");
}

static void
cmd_starttls(struct session *s, const char *arg, size_t len)
{
	if (wk->tls == NULL || s->tls_done) {
		session_bad(s, 502, "5.5.1", "Error: command not implemented");
		return;
	}
	if (len != 0) {
		session_bad(s, 501, "5.5.4", "Syntax: STARTTLS");
		return;
	}
	session_reply(s, 220, "2.0.0", "Ready to start TLS");
	tx_free(s);
	s->helo_seen = 0;
	s->helo[0] = '\0';
	s->state = S_TLS;
	s->deadline = time(NULL) + wk->conf->tls_timeout;
	/* TLS starts once the 220 is out (session_tls_begin) */
	worker_kick(s);
}
