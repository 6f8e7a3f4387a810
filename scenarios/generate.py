#!/usr/bin/env python3
"""Writes scenarios/palermo-30.toml and scenarios/global-190.toml.

The two large scenarios are generated so that their 30 and 190 states stay
consistent (regions, time zones, profiles, groups); the output is committed
and is the scenario (edit it by hand or change this script and re-run:
python3 scenarios/generate.py). Deterministic: a fixed seed.
"""
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))

COMMON = '''
[network]
delay = "120ms"                # per hop (agent -> broker, broker -> agent)
jitter = "40ms"                # exponential, added per hop
bandwidth_mbps = 50            # per transfer

[evidence]
size = { dist = "lognormal", median = "25MB", sigma = 1.3 }

[arrivals]
# requests are drafted in office hours (sender's local time), fewer on Fridays, few at weekends
daily = [0, 0, 0, 0, 0, 0, 0.2, 0.6, 2, 3, 3, 3, 2, 2, 3, 3, 2.5, 1.5, 0.6, 0.3, 0.1, 0, 0, 0]
weekly = [1.1, 1.1, 1.1, 1.0, 0.8, 0.05, 0.02]

# How states behave as the requested party (and when they answer a request
# for further information as the requesting party).
[profiles.fast]
acknowledge = { dist = "lognormal", median = "1d", sigma = 0.5 }
decide = { dist = "lognormal", median = "10d", sigma = 0.6 }
execute = { dist = "lognormal", median = "35d", sigma = 0.7 }
verify = { dist = "lognormal", median = "5d", sigma = 0.6 }
surrender = { dist = "uniform", min = "2d", max = "8d" }
reply = { dist = "lognormal", median = "4d", sigma = 0.5 }
refusal_rate = 0.04
further_information_rate = 0.12
extension_rate = 0.5           # a late EIO / EAW decision is notified as extended (+30d)
working_hours = { days = "Mon-Fri", start = "08:00", end = "18:00" }

[profiles.standard]
acknowledge = { dist = "lognormal", median = "3d", sigma = 0.7 }
decide = { dist = "lognormal", median = "25d", sigma = 0.7 }
execute = { dist = "lognormal", median = "70d", sigma = 0.8 }
verify = { dist = "lognormal", median = "14d", sigma = 0.7 }
surrender = { dist = "uniform", min = "4d", max = "12d" }
reply = { dist = "lognormal", median = "10d", sigma = 0.6 }
refusal_rate = 0.07
further_information_rate = 0.2
extension_rate = 0.3           # a late EIO / EAW decision is notified as extended (+30d)
working_hours = { days = "Mon-Fri", start = "08:00", end = "16:30" }

[profiles.slow]
acknowledge = { dist = "lognormal", median = "8d", sigma = 0.9 }
decide = { dist = "lognormal", median = "50d", sigma = 0.9 }
execute = { dist = "lognormal", median = "140d", sigma = 0.9 }
verify = { dist = "lognormal", median = "30d", sigma = 0.9 }
surrender = { dist = "uniform", min = "7d", max = "20d" }
reply = { dist = "lognormal", median = "20d", sigma = 0.8 }
refusal_rate = 0.1
further_information_rate = 0.3
extension_rate = 0.2           # a late EIO / EAW decision is notified as extended (+30d)
working_hours = { days = "Mon-Fri", start = "09:00", end = "15:00" }

[profiles.gulf]   # Sunday to Thursday week
acknowledge = { dist = "lognormal", median = "3d", sigma = 0.7 }
decide = { dist = "lognormal", median = "25d", sigma = 0.7 }
execute = { dist = "lognormal", median = "70d", sigma = 0.8 }
verify = { dist = "lognormal", median = "14d", sigma = 0.7 }
surrender = { dist = "uniform", min = "4d", max = "12d" }
reply = { dist = "lognormal", median = "10d", sigma = 0.6 }
refusal_rate = 0.07
further_information_rate = 0.2
extension_rate = 0.3           # a late EIO / EAW decision is notified as extended (+30d)
working_hours = { days = "Sun-Thu", start = "08:00", end = "15:00" }

# What travels. shares are normalised; urgent and provisional_measures are
# probabilities; requested_deadline is the requesting state's own date (UNTOC 18(24)).
[[mixes.untoc]]
kind = "MlaRequest"
basis = "Untoc"
share = 0.55
urgent = 0.08
requested_deadline = "120d"

[[mixes.untoc]]
kind = "ExtraditionRequest"
basis = "Untoc"
share = 0.12

[[mixes.untoc]]
kind = "ProvisionalArrestRequest"
basis = "Untoc"
share = 0.03
urgent = 1.0

[[mixes.untoc]]
kind = "ConfiscationRequest"
basis = "Untoc"
share = 0.06

[[mixes.untoc]]
kind = "DocumentVerificationRequest"
basis = "PalermoProtocol"
share = 0.12
urgent = 0.15

[[mixes.untoc]]
kind = "NationalityVerificationRequest"
basis = "PalermoProtocol"
share = 0.09
urgent = 0.15

[[mixes.untoc]]
kind = "RepatriationRequest"
basis = "PalermoProtocol"
share = 0.03
urgent = 0.3

# Destination states asking origin states about victims: mostly verifications.
[[mixes.trafficking]]
kind = "DocumentVerificationRequest"
basis = "PalermoProtocol"
share = 0.3
urgent = 0.2

[[mixes.trafficking]]
kind = "NationalityVerificationRequest"
basis = "PalermoProtocol"
share = 0.25
urgent = 0.2

[[mixes.trafficking]]
kind = "RepatriationRequest"
basis = "PalermoProtocol"
share = 0.08
urgent = 0.3

[[mixes.trafficking]]
kind = "MlaRequest"
basis = "Untoc"
share = 0.27
urgent = 0.1
requested_deadline = "90d"

[[mixes.trafficking]]
kind = "ExtraditionRequest"
basis = "Untoc"
share = 0.1

[[mixes.eu]]
kind = "MlaRequest"
basis = "EuEio"
share = 0.62
urgent = 0.05
provisional_measures = 0.04

[[mixes.eu]]
kind = "MlaRequest"
basis = "EuEEvidence"
share = 0.1
urgent = 0.1

[[mixes.eu]]
kind = "ExtraditionRequest"
basis = "EuEaw"
share = 0.2

[[mixes.eu]]
kind = "DocumentVerificationRequest"
basis = "PalermoProtocol"
share = 0.08

[[mixes.coe]]
kind = "MlaRequest"
basis = "EuropeanConventionMla"
share = 0.7

[[mixes.coe]]
kind = "ExtraditionRequest"
basis = "EuropeanConventionExtradition"
share = 0.2

[[mixes.coe]]
kind = "ProvisionalArrestRequest"
basis = "EuropeanConventionExtradition"
share = 0.1
urgent = 1.0

[defaults]
profile = "standard"
mix = "untoc"
requests_per_day = 0.5
'''

PAIRS = '''
# Pair rules (later rules win): EU states use the EIO / EAW / e-Evidence among
# themselves, Council of Europe instruments with the rest of Europe, and
# destination states send origin states mostly verifications.
[[pairs]]
from = "group:europe"
to = "group:europe"
mix = "coe"
rate_factor = 1.5

[[pairs]]
from = "group:eu"
to = "group:eu"
mix = "eu"
rate_factor = 2

[[pairs]]
from = "group:destination"
to = "group:origin"
mix = "trafficking"
rate_factor = 2.5
'''


def state_line(s):
    parts = ['id = "%s"' % s['id']]
    parts.append('authorities = [%s]' % ', '.join(
        ('"%s"' % a) if isinstance(a, str) else
        '{ id = "%s", kinds = [%s] }' % (a[0], ', '.join('"%s"' % k for k in a[1])) for a in s['auth']))
    if s['groups']:
        parts.append('groups = [%s]' % ', '.join('"%s"' % g for g in s['groups']))
    parts.append('profile = "%s"' % s['profile'])
    parts.append('utc_offset = %s' % s['tz'])
    parts.append('requests_per_day = %.2f' % s['rate'])
    parts.append('weight = %.2f' % s['weight'])
    return '[[states]]\n' + '\n'.join(parts) + '\n'


VERIF = ('DocumentVerificationRequest', 'NationalityVerificationRequest', 'RepatriationRequest')

# --- palermo-30 -------------------------------------------------------------
P30 = [
    # id, authority, groups, profile, utc offset, requests/day, weight
    ('IT', 'IT-MOJ', ['eu', 'europe', 'destination'], 'fast', 1, 2.5, 2.0),
    ('DE', 'DE-BFJ', ['eu', 'europe', 'destination'], 'fast', 1, 3.0, 2.0),
    ('FR', 'FR-MJ', ['eu', 'europe', 'destination'], 'standard', 1, 2.5, 2.0),
    ('ES', 'ES-MJ', ['eu', 'europe', 'destination'], 'standard', 1, 2.0, 1.5),
    ('NL', 'NL-JV', ['eu', 'europe', 'destination'], 'fast', 1, 2.0, 1.5),
    ('AT', 'AT-BMJ', ['eu', 'europe', 'destination'], 'fast', 1, 1.0, 1.0),
    ('PL', 'PL-PK', ['eu', 'europe'], 'standard', 1, 1.2, 1.0),
    ('RO', 'RO-MJ', ['eu', 'europe', 'origin'], 'standard', 2, 1.0, 2.0),
    ('BG', 'BG-MJ', ['eu', 'europe', 'origin'], 'standard', 2, 0.6, 1.5),
    ('GR', 'GR-MJ', ['eu', 'europe', 'destination'], 'slow', 2, 0.8, 1.0),
    ('GB', 'GB-UKCA', ['europe', 'destination'], 'fast', 0, 2.5, 2.0),
    ('UA', 'UA-OPG', ['europe', 'origin'], 'standard', 2, 0.7, 1.5),
    ('MD', 'MD-PG', ['europe', 'origin'], 'slow', 2, 0.3, 1.0),
    ('AL', 'AL-MJ', ['europe', 'origin'], 'slow', 1, 0.3, 1.0),
    ('TR', 'TR-MOJ', ['europe'], 'standard', 3, 1.0, 1.2),
    ('US', 'US-OIA', ['destination'], 'fast', -5, 4.0, 2.5),
    ('MX', 'MX-FGR', ['origin'], 'standard', -6, 1.0, 1.5),
    ('CO', 'CO-FGN', ['origin'], 'standard', -5, 0.8, 1.2),
    ('BR', 'BR-MJSP', [], 'standard', -3, 1.2, 1.2),
    ('AR', 'AR-MJ', [], 'standard', -3, 0.5, 0.8),
    ('NG', 'NG-AGF', ['origin'], 'slow', 1, 0.8, 2.5),
    ('GH', 'GH-AG', ['origin'], 'slow', 0, 0.3, 1.0),
    ('MA', 'MA-MJ', ['origin'], 'standard', 1, 0.4, 1.0),
    ('EG', 'EG-MOJ', ['origin'], 'gulf', 2, 0.4, 1.0),
    ('TH', 'TH-OAG', ['origin', 'destination'], 'standard', 7, 1.0, 2.0),
    ('VN', 'VN-SPP', ['origin'], 'slow', 7, 0.5, 1.8),
    ('PH', 'PH-DOJ', ['origin'], 'standard', 8, 0.6, 1.8),
    ('IN', 'IN-MHA', ['origin'], 'slow', 5.5, 1.0, 1.5),
    ('NP', 'NP-OAG', ['origin'], 'slow', 5.75, 0.2, 1.0),
    ('AE', 'AE-MOJ', ['destination'], 'gulf', 4, 0.8, 1.0),
]


def palermo30():
    out = ['''# palermo-30: 30 states of a trafficking-in-persons cooperation network for a
# year: MLA and extradition under UNTOC, document and nationality verification
# and repatriation under the Palermo Protocol between destination and origin
# states, EIO / EAW / e-Evidence inside the EU, Council of Europe conventions
# across Europe. Two agents are offline for a while, the hub restarts twice,
# and a joint operation triples the requests of five states for two weeks.
# Generated by scenarios/generate.py; format: sim/README.md.
name = "palermo-30"
seed = 2000
start = 2026-01-05T00:00:00Z
duration = "365d"
drain = "180d"
policy = "network-policy.toml"
''', COMMON, PAIRS]
    out.append('''
[[arrivals.bursts]]
name = "joint operation"
states = ["IT", "ES", "NG", "RO", "GB"]
at = "120d"
for = "14d"
factor = 3
''')
    for sid, auth, groups, prof, tz, rate, w in P30:
        a = [auth]
        if 'origin' in groups:  # a second office answers verifications
            a.append((sid + '-IMM', VERIF))
        out.append(state_line(dict(id=sid, auth=a, groups=groups, profile=prof, tz=tz, rate=rate, weight=w)))
    out.append('''
# Faults: NG-AGF offline a week, TH-OAG two days, the hub down twice.
[[outages]]
agent = "NG-AGF"
at = "60d"
for = "7d"

[[outages]]
agent = "TH-OAG"
at = "200d8h"
for = "2d"

[[broker_crashes]]
at = "94d10h"
down = "40m"

[[broker_crashes]]
at = "253d14h"
down = "6h"
''')
    return '\n'.join(out)


# --- global-190 -------------------------------------------------------------
EU = 'AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE'.split()
EUROPE = 'AL AD AM AZ BY BA GE IS LI MD MC ME MK NO RU SM RS CH TR UA GB'.split()
AMERICAS = 'AG AR BS BB BZ BO BR CA CL CO CR CU DM DO EC SV GD GT GY HT HN JM MX NI PA PY PE KN LC VC SR TT US UY VE'.split()
AFRICA = ('DZ AO BJ BW BF BI CV CM CF TD KM CG CD CI DJ EG GQ ER SZ ET GA GM GH GN GW KE LS LR LY MG MW ML MR '
          'MU MA MZ NA NE NG RW ST SN SC SL SO ZA SS SD TZ TG TN UG ZM ZW').split()
ASIA = ('AF BH BD BT BN KH CN IN ID IR IQ IL JP JO KZ KW KG LA LB MY MV MN MM NP OM PK PH QA KR SA SG LK SY TJ '
        'TH TL TM AE UZ VN YE').split()
OCEANIA = 'AU FJ KI MH FM NR NZ PG WS SB TO TV'.split()
GULF = set('BH KW OM QA SA AE YE IQ SY JO EG'.split())
DEST = set('IT DE FR ES NL BE AT SE GB CH NO US CA AU JP KR SG AE SA QA KW IL MY TH'.split())
ORIGIN = set(('RO BG UA MD AL NG GH CM BJ TG ET ER KE UG MA EG SN ML NE VN KH LA MM PH ID IN NP BD PK LK CN '
              'MX GT HN SV CO VE PE BO DO HT PY').split())


def global190():
    rng = random.Random(190)
    regions = [(EU, 1, ['eu', 'europe']), (EUROPE, 2, ['europe']), (AMERICAS, -5, ['americas']),
               (AFRICA, 1, ['africa']), (ASIA, 6, ['asia']), (OCEANIA, 10, ['oceania'])]
    states = []
    for ids, tz, groups in regions:
        for sid in ids:
            g = list(groups)
            if sid in DEST:
                g.append('destination')
            if sid in ORIGIN:
                g.append('origin')
            if sid in GULF:
                prof = 'gulf'
            elif 'eu' in g or sid in DEST:
                prof = rng.choice(['fast', 'fast', 'standard'])
            else:
                prof = rng.choice(['standard', 'standard', 'slow'])
            big = sid in DEST or sid in ('CN', 'IN', 'BR', 'RU', 'NG', 'MX', 'ID', 'TR', 'PK', 'ZA')
            rate = round(rng.uniform(1.5, 5.0) if big else rng.uniform(0.2, 1.6), 2)
            weight = round(rng.uniform(1.2, 2.5) if (big or sid in ORIGIN) else rng.uniform(0.3, 1.2), 2)
            offset = tz + rng.choice([-1, 0, 0, 1])
            auth = [sid + '-CA']
            if sid in ORIGIN:
                auth.append((sid + '-IMM', VERIF))
            states.append(dict(id=sid, auth=auth, groups=g, profile=prof, tz=offset, rate=rate, weight=weight))
    assert len(states) == 190, len(states)
    out = ['''# global-190: 190 states over a simulated year (model engine): UNTOC and the
# Palermo Protocol worldwide, EU and Council of Europe instruments in Europe,
# verifications from destination to origin states. Twelve agent outages (from
# hours to three weeks), three hub restarts, two major operations.
# Generated by scenarios/generate.py; format: sim/README.md.
name = "global-190"
seed = 190
start = 2026-01-05T00:00:00Z
duration = "365d"
drain = "180d"
policy = "network-policy.toml"
''', COMMON, PAIRS]
    out.append('''
[[arrivals.bursts]]
name = "operation in West Africa and Europe"
states = ["NG", "GH", "IT", "ES", "FR", "DE"]
at = "100d"
for = "21d"
factor = 3

[[arrivals.bursts]]
name = "operation in South-East Asia"
states = ["group:asia"]
at = "230d"
for = "10d"
factor = 2
''')
    for s in states:
        out.append(state_line(s))
    picks = rng.sample([s['id'] for s in states], 12)
    for i, sid in enumerate(picks):
        at = 20 + i * 28 + rng.randint(0, 10)
        dur = rng.choice(['6h', '1d', '3d', '7d', '21d'])
        out.append('[[outages]]\nagent = "%s-CA"\nat = "%dd%dh"\nfor = "%s"\n' % (sid, at, rng.randint(0, 23), dur))
    for at, down in (('45d11h', '30m'), ('183d15h', '4h'), ('302d9h', '1d')):
        out.append('[[broker_crashes]]\nat = "%s"\ndown = "%s"\n' % (at, down))
    return '\n'.join(out)


if __name__ == '__main__':
    with open(os.path.join(HERE, 'palermo-30.toml'), 'w') as f:
        f.write(palermo30())
    with open(os.path.join(HERE, 'global-190.toml'), 'w') as f:
        f.write(global190())
