#!/usr/bin/env python3
"""smtp-send.py - send mail files over SMTP like a sender's queue would, for the fault tests.

  smtp-send.py PORT SESSIONS LOG [--retry SECS] [--rcpt ADDR] [--reconnect K] FILE...

SESSIONS parallel sessions to 127.0.0.1:PORT each take the next file and send it
(MAIL FROM:<reporter@reporter.test>, RCPT TO:<ADDR> (default rua@rua.test), DATA),
reusing the connection (for at most K mails with --reconnect K). Every attempt is one line in LOG, written as it happens:
"FILE<TAB>CODE" (CODE: the final reply code, or "conn" when the connection failed).
With --retry SECS a file answered 4xx (or whose connection failed) is tried again
after 1 s, as a sender's queue would, until SECS seconds passed since the start.
Stdlib only (smtplib). Prints one line "sent=N accepted=N tempfail=N rejected=N"
(the final outcome of each file). Exit 0 when every file was accepted, else 1.
Limits: 60 s socket timeout; 1..64 sessions.
"""
import smtplib
import sys
import threading
import time


def main(argv):
    """Parse the arguments, run the sessions, print the summary."""
    port, sessions, logpath = int(argv[1]), int(argv[2]), argv[3]
    rest = argv[4:]
    retry, rcpt, per = 0.0, "rua@rua.test", 0
    while rest and rest[0].startswith("--"):
        if rest[0] == "--retry":
            retry = float(rest[1])
        elif rest[0] == "--rcpt":
            rcpt = rest[1]
        elif rest[0] == "--reconnect":
            per = int(rest[1])
        rest = rest[2:]
    queue = list(rest)
    final = {}
    lock = threading.Lock()
    log = open(logpath, "a", buffering=1)
    start = time.time()

    def note(f, code):
        """Log one attempt and remember it as the file's outcome."""
        with lock:
            log.write("%s\t%s\n" % (f, code))
            final[f] = code

    def take():
        """The next file to send, or None."""
        with lock:
            return queue.pop(0) if queue else None

    def later(f):
        """Queue f again in 1 s."""
        def again():
            """Put f back."""
            with lock:
                queue.append(f)
        t = threading.Timer(1.0, again)
        t.daemon = True
        t.start()

    def worker():
        """One SMTP session: send files until none is left."""
        s = None
        idle = used = 0
        while True:
            f = take()
            if f is None:
                # files waiting for a retry come back within 1 s
                with lock:
                    waiting = any(str(c)[0] != "2" and str(c)[0] != "5" for c in final.values())
                if retry and waiting and time.time() - start < retry + 2 and idle < 40:
                    idle += 1
                    time.sleep(0.1)
                    continue
                break
            idle = 0
            data = open(f, "rb").read()
            code = None
            try:
                if s is not None and per and used >= per:
                    try:
                        s.quit()
                    except (OSError, smtplib.SMTPException):
                        pass
                    s = None
                if s is None:
                    s = smtplib.SMTP("127.0.0.1", port, timeout=60)
                    s.ehlo("sender.test")
                    used = 0
                used += 1
                s.sendmail("reporter@reporter.test", [rcpt], data)
                code = 250
            except smtplib.SMTPDataError as e:
                code = e.smtp_code
            except smtplib.SMTPRecipientsRefused as e:
                code = list(e.recipients.values())[0][0]
            except smtplib.SMTPResponseException as e:
                code = e.smtp_code
            except (OSError, smtplib.SMTPException):
                code = "conn"
                s = None
            note(f, code)
            if s is not None and code != 250:
                try:
                    s.rset()
                except (OSError, smtplib.SMTPException):
                    s = None
            if (code == "conn" or str(code)[0] == "4") and retry and time.time() - start < retry:
                later(f)
        if s is not None:
            try:
                s.quit()
            except (OSError, smtplib.SMTPException):
                pass

    threads = [threading.Thread(target=worker) for _ in range(max(1, min(64, sessions)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = list(final.values())
    acc = sum(1 for c in codes if c == 250)
    rej = sum(1 for c in codes if str(c)[0] == "5")
    print("sent=%d accepted=%d tempfail=%d rejected=%d" % (len(codes), acc, len(codes) - acc - rej, rej))
    return 0 if acc == len(codes) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
