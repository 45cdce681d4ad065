/*
 * admit_mem.c: the hash slots' memory (admit.c).
 *
 * Each hash slot has its memory, shared by every responder (one
 * POSIX shared memory object per home and slot, /dev/shm/latchkey-<uid>-
 * <dev>-<ino>-<slot>, the admission file's identity): whoever holds slot
 * k verifies in object k.  With a buffer per process, every responder
 * kept its own m KiB in its heap for life (lighttpd's max-procs 4 x
 * cores processes: 8 x 19 MiB on two cores); now a machine holds slots
 * x m KiB of hash memory, however many processes.  (It is no faster: on
 * the 2-core test VM a pinned argon2id loop at m = 19 MiB took 18.9-20.9
 * ms over one buffer and over eight alike.)  Only the slot's holder
 * touches an object (the slot lock); argon2 wipes it after every hash;
 * an object not ours alone (owner, mode 0600: another user could have
 * made the name first) is not used, nor is one that cannot be sized
 * (posix_fallocate, so a full /dev/shm is an error here, not a SIGBUS
 * mid-hash): the verify then mallocs, as before.  Each user of the
 * objects holds a shared lock on byte ADMIT_USERS of the admission file
 * for life; admit_mem_close() of the last one (its exclusive lock granted)
 * removes them.  A responder SIGKILLed leaves them to the next last one.
 */
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "extern.h"
#include "admit_int.h"

static int	 users_held;		/* shared lock on ADMIT_USERS */
static int	 slotmem_off;		/* shared memory unusable: malloc */
static cpu_set_t allowed;		/* this process's cores, read once */
static int	 allowed_n = -1;	/* how many, -1 not read yet */
static int	 pinned;		/* to one core while hashing */
static struct {
	void	*mem;
	size_t	 size;
} slotmem[ADMIT_SLOTS_MAX];

/* The shared memory object's name of slot k ("/latchkey-..."), or -1. */
static int
slot_name(int fd, int k, char *buf, size_t sz)
{
	struct stat	 st;

	if (fstat(fd, &st) == -1)
		return -1;
	return (size_t)snprintf(buf, sz, "/latchkey-%lu-%lu-%lu-%d",
	    (unsigned long)geteuid(), (unsigned long)st.st_dev,
	    (unsigned long)st.st_ino, k) >= sz ? -1 : 0;
}

/* Stop using shared slot memory for this process's life (logged). */
static void *
slotmem_give_up(const char *name, const char *why, int fd)
{
	lk_warn("/dev/shm%s: %s; password hashing uses private memory",
	    name, why);
	if (fd != -1)
		close(fd);
	slotmem_off = 1;
	return NULL;
}

/*
 * Slot k's shared hash memory, at least size bytes, mapped (kept for
 * the next verify), or NULL: then argon2 mallocs.  Called holding slot k
 * of the admission file afd.
 */
void *
admit_mem_slot(int afd, int k, size_t size)
{
	char		 name[96];
	struct stat	 st;
	void		*p;
	int		 fd, e;

	if (k < 0 || k >= ADMIT_SLOTS_MAX)
		return NULL;
	if (slotmem[k].mem != NULL && slotmem[k].size >= size)
		return slotmem[k].mem;
	if (slotmem_off || afd == -1 || slot_name(afd, k, name, sizeof(name)) == -1)
		return NULL;
	/* Before the object is opened: the last user's exit removes it. */
	if (!users_held) {
		if (admit_lock(afd, ADMIT_USERS, F_RDLCK, F_OFD_SETLKW) == -1)
			return slotmem_give_up(name, strerror(errno), -1);
		users_held = 1;
	}
	if ((fd = shm_open(name, O_RDWR | O_CREAT, 0600)) == -1)
		return slotmem_give_up(name, strerror(errno), -1);
	if (fstat(fd, &st) == -1)
		return slotmem_give_up(name, strerror(errno), fd);
	if (st.st_uid != geteuid() || (st.st_mode & 077) != 0)
		return slotmem_give_up(name, "not this user's alone", fd);
	/* Reserved now: touching a page tmpfs has no room for is SIGBUS. */
	if ((size_t)st.st_size < size &&
	    (e = posix_fallocate(fd, 0, (off_t)size)) != 0)
		return slotmem_give_up(name, strerror(e), fd);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
	    fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return slotmem_give_up(name, strerror(errno), -1);
	if (slotmem[k].mem != NULL)
		munmap(slotmem[k].mem, slotmem[k].size);
	slotmem[k].mem = p;
	slotmem[k].size = size;
	return p;
}

void
admit_mem_close(int afd)
{
	char	 name[96];
	int	 k;

	for (k = 0; k < ADMIT_SLOTS_MAX; k++)
		if (slotmem[k].mem != NULL) {
			munmap(slotmem[k].mem, slotmem[k].size);
			slotmem[k].mem = NULL;
		}
	/*
	 * The last user (no other shared lock left) removes the objects.  It
	 * lets go of its own share first: two users closing at once each
	 * found the other's share, and neither removed them.  This way the
	 * later of the two to look finds none (or the other holding the
	 * lock, and removing them).
	 */
	if (users_held) {
		(void)admit_lock(afd, ADMIT_USERS, F_UNLCK, F_OFD_SETLK);
		if (admit_lock(afd, ADMIT_USERS, F_WRLCK, F_OFD_SETLK) == 0) {
			for (k = 0; k < ADMIT_SLOTS_MAX; k++)
				if (slot_name(afd, k, name, sizeof(name)) == 0)
					(void)shm_unlink(name);
			(void)admit_lock(afd, ADMIT_USERS, F_UNLCK,
			    F_OFD_SETLK);
		}
	}
	users_held = 0;
}

/* The k-th core (from 0) of the set, or -1. */
static int
core_nth(const cpu_set_t *set, int k)
{
	size_t	 c;

	for (c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, set) && k-- == 0)
			return (int)c;
	return -1;
}

/*
 * The holder of slot k of `slots` hashes on a core of its own, the k-th
 * of those this process may use, when there are as many cores as slots:
 * two hashes never share a core while another one idles, whatever the
 * scheduler does with the web server's and the other responders' bursts
 * meanwhile (sched_setaffinity(2); admit_mem_unpin() gives the process
 * its cores back).  Anything failing leaves the process as it was.
 */
void
admit_mem_pin(int k, int slots)
{
	cpu_set_t	 one;
	int		 c;

	if (allowed_n == -1)
		allowed_n = sched_getaffinity(0, sizeof(allowed), &allowed) == 0 ?
		    CPU_COUNT(&allowed) : 0;
	if (allowed_n < 2 || slots > allowed_n || k < 0 ||
	    (c = core_nth(&allowed, k)) == -1)
		return;
	CPU_ZERO(&one);
	CPU_SET((size_t)c, &one);
	pinned = sched_setaffinity(0, sizeof(one), &one) == 0;
}

void
admit_mem_unpin(void)
{
	if (pinned)
		(void)sched_setaffinity(0, sizeof(allowed), &allowed);
	pinned = 0;
}
