/*
 * ctlqueue: moatctl queue and flush (see ctlqueue.h).
 *
 * The daemon answers a listing as a memfd in the queue's own text form
 * (queue/listing.h); it is read back strictly, then sorted and shown
 * here, so the daemon does no formatting and keeps nothing for a slow
 * reader.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../queue/listing.h"
#include "control.h"
#include "ctlqueue.h"

#define EXIT_REFUSED	1
#define EXIT_UNREACHED	2

/* The reply's status, or -1 with err set (moatd not asked). */
static int
ctlqueue_ask(const struct conf *cf, uint32_t op, const char *qid,
    char *text, size_t textsize, int *fd)
{
	if (cf->control_socket[0] == '\0') {
		(void)snprintf(text, textsize, "%s: control_socket is not set: "
		    "cannot ask moatd", cf->file);
		return -1;
	}
	return ctlreq(cf->control_socket, op, qid, text, textsize, fd);
}

static int
ctlqueue_exit(int status)
{
	if (status == CTL_OK)
		return 0;
	return status == -1 || status == CTL_UNAVAILABLE ? EXIT_UNREACHED :
	    EXIT_REFUSED;
}

static int
ctlqueue_show(int fd, int json, FILE *out, char *err, size_t errsize)
{
	struct listing l;
	char why[256];
	FILE *fp;
	int r;

	memset(&l, 0, sizeof(l));
	if (lseek(fd, 0, SEEK_SET) == -1 || (fp = fdopen(fd, "r")) == NULL) {
		(void)snprintf(err, errsize, "the listing: %s",
		    strerror(errno));
		close(fd);
		return EXIT_UNREACHED;
	}
	r = listing_read(&l, fp, why, sizeof(why));
	(void)fclose(fp);
	if (r == -1) {
		(void)snprintf(err, errsize, "the listing moatd sent: %s", why);
		listing_free(&l);
		return EXIT_UNREACHED;
	}
	listing_sort(&l);
	if (json)
		listing_print_json(out, &l, time(NULL));
	else
		listing_print(out, &l, time(NULL));
	listing_free(&l);
	return 0;
}

int
ctlqueue_list(const struct conf *cf, int json, FILE *out, char *err,
    size_t errsize)
{
	int status, fd;

	status = ctlqueue_ask(cf, CTL_LIST, "", err, errsize, &fd);
	if (status == CTL_OK && fd == -1) {
		(void)snprintf(err, errsize, "moatd sent no listing");
		return EXIT_UNREACHED;
	}
	if (status != CTL_OK) {
		if (fd != -1)
			close(fd);
		return ctlqueue_exit(status);
	}
	return ctlqueue_show(fd, json, out, err, errsize);
}

int
ctlqueue_op(const struct conf *cf, uint32_t op, const char *qid, FILE *out,
    char *err, size_t errsize)
{
	char text[CTL_TEXT_MAX + CONF_PATH_MAX];
	int status, fd;

	status = ctlqueue_ask(cf, op, qid, text, sizeof(text), &fd);
	if (fd != -1)
		close(fd);
	if (status == CTL_OK)
		fprintf(out, "%s\n", text);
	else
		(void)snprintf(err, errsize, "%s", text);
	return ctlqueue_exit(status);
}
