/*
 * mapwatch: the maps' cdb files watched for a new one (see mapwatch.h).
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../conf/map.h"
#include "log.h"
#include "mapwatch.h"

static struct {
	dev_t		dev;
	ino_t		ino;
	struct timespec	mtime;
	off_t		size;
	time_t		warned_text;	/* text mtime we warned about */
} seen[MAP_COUNT];

int
mapwatch_open(const struct conf *cf, int id)
{
	char path[CONF_PATH_MAX + 8];
	int fd;

	if (cf->maps[id][0] == '\0' ||
	    map_cdb_path(cf->maps[id], path, sizeof(path)) == -1)
		return -1;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		log_warn("map %s: open %s", map_name(id), path);
	return fd;
}

static void
check_text(const struct conf *cf, int id, const struct stat *cdb)
{
	struct stat st;

	if (stat(cf->maps[id], &st) == -1)
		return;
	if (st.st_mtime > cdb->st_mtime &&
	    seen[id].warned_text != st.st_mtime) {
		seen[id].warned_text = st.st_mtime;
		log_info("map", "map %s: %s is newer than its cdb; run "
		    "moatctl makemap %s", map_name(id), cf->maps[id],
		    map_name(id));
	}
}

/* 1 when the cdb at path is another file than the one seen last. */
static int
changed(int id, const struct stat *st)
{
	if (seen[id].ino == st->st_ino && seen[id].dev == st->st_dev &&
	    seen[id].size == st->st_size &&
	    seen[id].mtime.tv_sec == st->st_mtim.tv_sec &&
	    seen[id].mtime.tv_nsec == st->st_mtim.tv_nsec)
		return 0;
	seen[id].dev = st->st_dev;
	seen[id].ino = st->st_ino;
	seen[id].size = st->st_size;
	seen[id].mtime = st->st_mtim;
	return 1;
}

void
mapwatch_check(const struct conf *cf, int force,
    void (*send)(int id, int fd))
{
	char path[CONF_PATH_MAX + 8];
	struct stat st;
	struct map m;
	int id, fd;

	for (id = 0; id < MAP_COUNT; id++) {
		if (cf->maps[id][0] == '\0' ||
		    map_cdb_path(cf->maps[id], path, sizeof(path)) == -1 ||
		    stat(path, &st) == -1)
			continue;
		check_text(cf, id, &st);
		if (!changed(id, &st) && !force)
			continue;
		if ((fd = mapwatch_open(cf, id)) == -1)
			continue;
		memset(&m, 0, sizeof(m));
		if (map_open_fd(&m, dup(fd)) == -1) {
			log_warnx("map %s: %s is not a valid cdb; keeping the "
			    "old one", map_name(id), path);
			close(fd);
			continue;
		}
		if (!force)
			log_info("map", "map %s reloaded from %s (%u records)",
			    map_name(id), path, m.nrecords);
		map_close(&m);
		if (!force)
			send(id, fd);
		close(fd);
	}
}
