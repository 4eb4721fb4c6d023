/*
 * privdrop: chroot, setgroups, setresgid, setresuid (see privdrop.h).
 */
#include <sys/prctl.h>
#include <sys/types.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "privdrop.h"

int
priv_lookup(const char *user, struct priv_id *id, char *err, size_t errsize)
{
	struct passwd *pw;

	memset(id, 0, sizeof(*id));
	if (strlcpy_ok(id->name, user, sizeof(id->name)) == -1) {
		snprintf(err, errsize, "user name too long: %s", user);
		return -1;
	}
	if (geteuid() != 0)
		return 0;
	errno = 0;
	if ((pw = getpwnam(user)) == NULL) {
		snprintf(err, errsize, "unknown user %s (create it, see INSTALL)",
		    user);
		return -1;
	}
	if (pw->pw_uid == 0) {
		snprintf(err, errsize, "user %s must not be root", user);
		return -1;
	}
	id->uid = pw->pw_uid;
	id->gid = pw->pw_gid;
	id->can_drop = 1;
	return 0;
}

void
priv_drop(const struct priv_id *id, const char *jail)
{
	uid_t ruid, euid, suid;
	gid_t rgid, egid, sgid;

	if (!id->can_drop)
		return;
	if (jail != NULL && jail[0] != '\0') {
		if (chroot(jail) == -1)
			fatal("chroot %s", jail);
		if (chdir("/") == -1)
			fatal("chdir / in %s", jail);
	}
	if (setgroups(1, &id->gid) == -1)
		fatal("setgroups");
	if (setresgid(id->gid, id->gid, id->gid) == -1)
		fatal("setresgid %u", (unsigned)id->gid);
	if (setresuid(id->uid, id->uid, id->uid) == -1)
		fatal("setresuid %u", (unsigned)id->uid);
	if (getresuid(&ruid, &euid, &suid) == -1 ||
	    getresgid(&rgid, &egid, &sgid) == -1)
		fatal("getresuid");
	if (ruid != id->uid || euid != id->uid || suid != id->uid ||
	    rgid != id->gid || egid != id->gid || sgid != id->gid)
		fatalx("privilege drop to %s did not stick", id->name);
	if (setuid(0) != -1)
		fatalx("privilege drop to %s can be undone", id->name);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fatal("prctl no_new_privs");
	/* setuid cleared it; workers are not to be ptraced or dumped */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		fatal("prctl dumpable");
}
