# Regenerates README.md's command and settings tables from `tms help` (run after changing
# either table: tests/cli.rs checks that README lists every command and setting).
# Usage: cargo build && python3 tests/readme_tables.py
import subprocess,re
tms='./target/debug/tms'
out=subprocess.run([tms,'-c','help'],capture_output=True,text=True).stdout.splitlines()[1:]
names=[l.split()[0] for l in out if l.strip()]
rows=["| command | what it does |","| --- | --- |"]
P='\\|'
for n in names:
    h=subprocess.run([tms,'-c','help '+n],capture_output=True,text=True).stdout.splitlines()
    usage=h[0]; summary=h[1].strip()
    details=[l.strip() for l in h[2:] if not l.strip().startswith('example:')]
    ex=[l.strip()[len('example: '):] for l in h if l.strip().startswith('example:')][0]
    desc=summary+('. '+' '.join(details) if details else '')
    rows.append("| `%s` | %s — e.g. `%s` |" % (usage.replace('|',P), desc.replace('|',P), ex.replace('|',P)))
cmd='\n'.join(rows)
s=subprocess.run([tms,'-c','help settings'],capture_output=True,text=True).stdout.splitlines()[1:]
srows=["| setting | meaning | allowed | default |","| --- | --- | --- | --- |"]
for l in s:
    m=re.match(r'\s+(\S+)\s+(.*) — (.*); default (.*)$',l)
    name,help_,allowed,default=m.groups()
    srows.append("| `%s` | %s | %s | `%s` |" % (name,help_.replace('|',P),allowed,default))
st='\n'.join(srows)
r=open('README.md').read()
r=re.sub(r'(## The language\n(?:.*\n)*?syntax, options and an example; `help settings` lists every setting with its range.\n\n)(?:.*\n)*?(### Settings\n\n)(?:\|.*\n)+', lambda m: m.group(1)+cmd+'\n\n'+m.group(2)+st+'\n', r)
r=r.replace('COMMANDS_TABLE',cmd).replace('SETTINGS_TABLE',st)
open('README.md','w').write(r)
