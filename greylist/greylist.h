/*
 * greylist: the triplet check at RCPT.
 *
 * A recipient the other checks accepted is refused for now (451 4.7.1,
 * with when to come back) the first time a (client network, sender,
 * recipient) triplet is seen, and accepted once the same triplet comes
 * back after greylist_delay and within greylist_window; it is then
 * remembered for greylist_expire from its last use.  Real MTAs retry;
 * most spamware does not, and what resends too early says so.
 *
 * The network is the client's /24 (IPv4) or /64 (IPv6): big senders
 * retry from other hosts of a pool.  The sender is lower-cased, its BATV
 * tag and SRS hash and timestamp taken off, since they change with each
 * attempt.  A network whose triplets passed greylist_awl times is let
 * through for every triplet (auto-allowlist).  Clients the access map
 * says OK for, clients a DNSWL lists, and postmaster are not greylisted.
 * Every decision is one `greylist` log line.  A store that fails lets
 * the recipient through.
 */
#ifndef MOAT_GREYLIST_H
#define MOAT_GREYLIST_H

#include <stddef.h>
#include <time.h>

#include "../smtpd/smtp.h"

enum grey_result { GREY_SKIP, GREY_NEW, GREY_EARLY, GREY_PASSED, GREY_AWL,
	GREY_FAIL };

/* Worker start, before the chroot: open the store.  0 or -1 (logged:
 * greylisting then fails open). */
int	greylist_setup(const struct conf *);
/* For an accepted recipient: v becomes the 451 when it must wait. */
void	greylist_rcpt(struct session *, const char *rcpt, struct verdict *v);
/* Worker timer: forget expired triplets, a bounded number at a time. */
void	greylist_tick(time_t now);

/* Pure parts, for the tests and moatctl. */
void	greylist_sender(const char *addr, char *out, size_t outsize);
int	greylist_network(const struct sockaddr *, unsigned bits4,
	    unsigned bits6, char *out, size_t outsize);
const char *greylist_org_domain(const char *hostname);	/* a suffix of it */

#endif
