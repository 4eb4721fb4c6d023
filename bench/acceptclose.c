/*
 * acceptclose: the cheapest TCP server there is, the yardstick of
 * bench/storm.sh.  WORKERS processes share one listening socket, as
 * moatd's smtp workers do; each accepts a connection and closes it at
 * once, saying nothing.  What a blocked client costs moatd is measured
 * against what a connection costs here, on the same machine in the same
 * run.  It runs until it gets SIGTERM.
 *
 * usage: acceptclose [-h host] -p port [-w workers]
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <netinet/in.h>

#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WORKERS_MAX	64

static void
usage(void)
{
	fprintf(stderr, "usage: acceptclose [-h host] -p port [-w workers]\n");
	exit(2);
}

static int
listen_on(const char *host, const char *port)
{
	struct addrinfo hints, *res;
	int fd, on = 1, e;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	if ((e = getaddrinfo(host, port, &hints, &res)) != 0) {
		fprintf(stderr, "acceptclose: %s:%s: %s\n", host, port,
		    gai_strerror(e));
		exit(1);
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) == -1 ||
	    listen(fd, 4096) == -1) {
		perror("acceptclose: listen");
		exit(1);
	}
	freeaddrinfo(res);
	return fd;
}

static void
serve(int lfd)
{
	int fd;

	for (;;) {
		if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) == -1) {
			if (errno == EINTR || errno == ECONNABORTED ||
			    errno == EMFILE || errno == ENFILE)
				continue;
			perror("acceptclose: accept");
			_exit(1);
		}
		(void)close(fd);
	}
}

int
main(int argc, char **argv)
{
	const char *host = "127.0.0.1", *port = NULL;
	pid_t kids[WORKERS_MAX];
	sigset_t stop, none;
	int ch, lfd, i, sig, n = 2;

	while ((ch = getopt(argc, argv, "h:p:w:")) != -1) {
		switch (ch) {
		case 'h': host = optarg; break;
		case 'p': port = optarg; break;
		case 'w': n = atoi(optarg); break;
		default: usage();
		}
	}
	if (port == NULL || n < 1 || n > WORKERS_MAX || optind != argc)
		usage();
	lfd = listen_on(host, port);
	sigemptyset(&none);
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	if (sigprocmask(SIG_BLOCK, &stop, NULL) == -1) {
		perror("acceptclose: sigprocmask");
		return 1;
	}
	for (i = 0; i < n; i++) {
		if ((kids[i] = fork()) == -1) {
			perror("acceptclose: fork");
			n = i;
			break;
		}
		if (kids[i] == 0) {
			(void)sigprocmask(SIG_SETMASK, &none, NULL);
			serve(lfd);
		}
	}
	(void)sigwait(&stop, &sig);
	for (i = 0; i < n; i++)
		(void)kill(kids[i], SIGTERM);
	while (wait(NULL) > 0)
		;
	return 0;
}
