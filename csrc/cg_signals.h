/* SIGINT/SIGTERM flag shared by the Lua thread's waits. */
#ifndef CG_SIGNALS_H
#define CG_SIGNALS_H

/* Non-zero once SIGINT or SIGTERM arrived after core.catch_signals(). */
int cg_interrupted(void);

#endif
