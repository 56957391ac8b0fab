"""The generator of cases.yaml: `python eval/facts/gen_cases.py > eval/facts/cases.yaml`."""

# ruff: noqa: RUF001  (Ukrainian text: Cyrillic letters that look Latin are intended)
import yaml

C = []


def case(cid, lang, category, steps, current, stale=(), survive=()):
    C.append(
        {
            "id": cid,
            "lang": lang,
            "category": category,
            "steps": [{"say": say, "extract": [list(f) for f in facts]} for say, facts in steps],
            "expect": {
                "current": [k.split() for k in current],
                "stale": [k.split() for k in stale],
                "survive": [k.split() for k in survive],
            },
        }
    )


# --- English: a value changes --------------------------------------------------------------
V = [
    (
        "treasury multisig",
        "The treasury multisig needs 2 of 3 signatures.",
        "2 3",
        "The treasury multisig now needs 3 of 5 signatures.",
        "3 5",
        "Our treasury multisig needs 2 of 3.",
        "We changed it: the multisig now needs 3 of 5.",
    ),
    (
        "monthly LLM budget",
        "The monthly LLM budget is 200 USD.",
        "200",
        "The monthly LLM budget is 350 USD.",
        "350",
        "Our monthly LLM budget is 200 dollars.",
        "We raised the LLM budget to 350 dollars a month.",
    ),
    (
        "staging server port",
        "The staging server listens on port 8080.",
        "8080",
        "The staging server listens on port 9090.",
        "9090",
        "Staging runs on port 8080.",
        "Staging moved to port 9090.",
    ),
    (
        "grant pool size",
        "The community grant pool is 50000 UAH.",
        "50000",
        "The community grant pool is 80000 UAH.",
        "80000",
        "The grant pool holds 50000 UAH.",
        "The grant pool grew to 80000 UAH.",
    ),
    (
        "quorum",
        "The DAO quorum is 20 percent of members.",
        "20",
        "The DAO quorum is 30 percent of members.",
        "30",
        "Quorum is 20% of members.",
        "Governance vote passed: quorum is now 30%.",
    ),
    (
        "sprint length",
        "Sprints last two weeks.",
        "two",
        "Sprints last three weeks.",
        "three",
        "Our sprints are two weeks long.",
        "From now on sprints are three weeks.",
    ),
]
for i, (subj, old, okey, new, nkey, say1, say2) in enumerate(V, 1):
    case(
        f"en-value-{i:02d}",
        "en",
        "value_change",
        [(say1, [(subj, old)]), (say2, [(subj, new)])],
        [nkey],
        stale=[okey],
    )

# --- English: a role moves to another person ------------------------------------------------
R = [
    ("treasurer", "Olena is the treasurer.", "olena", "Taras is the treasurer.", "taras"),
    ("design lead", "Maria leads the design team.", "maria", "Ivan leads the design team.", "ivan"),
    (
        "release manager",
        "Petro is the release manager.",
        "petro",
        "Oksana is the release manager.",
        "oksana",
    ),
    (
        "on-call engineer",
        "Andrii is the on-call engineer this week.",
        "andrii",
        "Dmytro is the on-call engineer this week.",
        "dmytro",
    ),
    ("project X owner", "Sofia owns project X.", "sofia", "Nazar owns project X.", "nazar"),
]
for i, (subj, old, okey, new, nkey) in enumerate(R, 1):
    case(
        f"en-role-{i:02d}",
        "en",
        "role_move",
        [(f"FYI {old}", [(subj, old)]), (f"Change: {new}", [(subj, new)])],
        [nkey],
        stale=[okey],
    )

# --- English: a date moves -----------------------------------------------------------------
D = [
    (
        "mainnet launch date",
        "The mainnet launch is on May 5.",
        "may 5",
        "The mainnet launch is on June 10.",
        "june 10",
    ),
    (
        "community call",
        "The community call is on Thursdays at 18:00.",
        "thursdays",
        "The community call is on Fridays at 17:00.",
        "fridays",
    ),
    (
        "audit deadline",
        "The security audit is due on March 1.",
        "march 1",
        "The security audit is due on March 20.",
        "march 20",
    ),
    (
        "token unlock date",
        "The token unlock happens on 1 September.",
        "1 september",
        "The token unlock happens on 1 December.",
        "1 december",
    ),
    (
        "hackathon date",
        "The hackathon starts on 12 April.",
        "12 april",
        "The hackathon starts on 26 April.",
        "26 april",
    ),
]
for i, (subj, old, okey, new, nkey) in enumerate(D, 1):
    case(
        f"en-date-{i:02d}",
        "en",
        "date_move",
        [(f"Note: {old}", [(subj, old)]), (f"Postponed: {new}", [(subj, new)])],
        [nkey],
        stale=[okey.split()[-1] if okey.split()[-1] != nkey.split()[-1] else okey],
    )

# --- English: a duplicate is restated ------------------------------------------------------
S = [
    (
        "office city",
        "The team office is in Lviv.",
        "lviv",
        [
            "The team office is in Lviv.",
            "the team office is in lviv",
            "The team office is in Lviv!",
        ],
    ),
    (
        "main language",
        "The codebase is written in Python.",
        "python",
        [
            "The codebase is written in Python.",
            "The codebase is written in Python",
            "the codebase is written in python.",
        ],
    ),
    (
        "multisig signers",
        "The multisig has five signers.",
        "five",
        [
            "The multisig has five signers.",
            "The multisig has five signers.",
            "The multisig has five signers.",
        ],
    ),
    (
        "support email",
        "Support requests go to help@daarion.city.",
        "help daarion city",
        ["Support requests go to help@daarion.city.", "Support requests go to help@daarion.city"],
    ),
    (
        "voting period",
        "Proposals are open for voting for 7 days.",
        "7",
        [
            "Proposals are open for voting for 7 days.",
            "Proposals are open for voting for 7 days!",
            "proposals are open for voting for 7 days",
        ],
    ),
]
for i, (subj, _fact, key, variants) in enumerate(S, 1):
    steps = [(f"({n + 1}) {v}", [(subj, v)]) for n, v in enumerate(variants)]
    case(f"en-dup-{i:02d}", "en", "duplicate_restated", steps, [key])

# --- English: an unrelated fact must survive -----------------------------------------------
U = [
    (
        ("treasurer", "Olena is the treasurer."),
        ("design lead", "Maria leads design."),
        ("treasurer", "Taras is the treasurer."),
        "taras",
        "olena",
        "maria",
    ),
    (
        ("launch date", "The launch is on May 5."),
        ("launch venue", "The launch event is in Kyiv."),
        ("launch date", "The launch is on June 2."),
        "june 2",
        "may",
        "kyiv",
    ),
    (
        ("budget", "The budget is 100 USD."),
        ("budget owner", "Ivan approves budget changes."),
        ("budget", "The budget is 150 USD."),
        "150",
        "100",
        "ivan approves",
    ),
    (
        ("node count", "The network runs 4 validator nodes."),
        ("node hosting", "Validators are hosted in Frankfurt."),
        ("node count", "The network runs 7 validator nodes."),
        "7",
        "4",
        "frankfurt",
    ),
    (
        ("meeting day", "Standup is at 10:00."),
        ("meeting tool", "Standup happens on Jitsi."),
        ("meeting day", "Standup is at 11:30."),
        "11 30",
        "10 00",
        "jitsi",
    ),
]
for i, (a, b, c, nkey, okey, skey) in enumerate(U, 1):
    case(
        f"en-survive-{i:02d}",
        "en",
        "unrelated_survives",
        [(f"Two things: {a[1]} {b[1]}", [a, b]), (f"Update: {c[1]}", [c])],
        [nkey, skey],
        stale=[okey],
        survive=[skey],
    )

# --- Ukrainian -----------------------------------------------------------------------------
UV = [
    (
        "мультипідпис скарбниці",
        "Мультипідпис скарбниці потребує 2 з 3 підписів.",
        "2 3",
        "Мультипідпис скарбниці потребує 3 з 5 підписів.",
        "3 5",
    ),
    (
        "місячний бюджет",
        "Місячний бюджет на LLM становить 200 доларів.",
        "200",
        "Місячний бюджет на LLM становить 350 доларів.",
        "350",
    ),
    (
        "кворум",
        "Кворум DAO становить 20 відсотків учасників.",
        "20",
        "Кворум DAO становить 30 відсотків учасників.",
        "30",
    ),
    (
        "грантовий фонд",
        "Грантовий фонд становить 50000 гривень.",
        "50000",
        "Грантовий фонд становить 80000 гривень.",
        "80000",
    ),
    ("тривалість спринту", "Спринт триває два тижні.", "два", "Спринт триває три тижні.", "три"),
    (
        "порт сервера",
        "Тестовий сервер працює на порту 8080.",
        "8080",
        "Тестовий сервер працює на порту 9090.",
        "9090",
    ),
]
for i, (subj, old, okey, new, nkey) in enumerate(UV, 1):
    case(
        f"uk-value-{i:02d}",
        "uk",
        "value_change",
        [(f"Запам'ятай: {old}", [(subj, old)]), (f"Зміна: {new}", [(subj, new)])],
        [nkey],
        stale=[okey],
    )

UR = [
    ("скарбник", "Олена є скарбником.", "олена", "Тарас є скарбником.", "тарас"),
    (
        "керівник дизайну",
        "Марія керує командою дизайну.",
        "марія",
        "Іван керує командою дизайну.",
        "іван",
    ),
    (
        "менеджер релізів",
        "Петро відповідає за релізи.",
        "петро",
        "Оксана відповідає за релізи.",
        "оксана",
    ),
    ("власник проєкту X", "Софія веде проєкт X.", "софія", "Назар веде проєкт X.", "назар"),
    (
        "черговий інженер",
        "Цього тижня черговий інженер Андрій.",
        "андрій",
        "Цього тижня черговий інженер Дмитро.",
        "дмитро",
    ),
]
for i, (subj, old, okey, new, nkey) in enumerate(UR, 1):
    case(
        f"uk-role-{i:02d}",
        "uk",
        "role_move",
        [(f"До відома: {old}", [(subj, old)]), (f"Зміна ролі: {new}", [(subj, new)])],
        [nkey],
        stale=[okey],
    )

UD = [
    (
        "дата запуску",
        "Запуск мейннету призначено на 5 травня.",
        "травня",
        "Запуск мейннету перенесено на 10 червня.",
        "червня",
    ),
    (
        "дзвінок спільноти",
        "Дзвінок спільноти щочетверга о 18:00.",
        "щочетверга",
        "Дзвінок спільноти щоп'ятниці о 17:00.",
        "щоп ятниці",
    ),
    (
        "дедлайн аудиту",
        "Аудит безпеки треба завершити до 1 березня.",
        "1 березня",
        "Аудит безпеки треба завершити до 20 березня.",
        "20 березня",
    ),
    ("хакатон", "Хакатон починається 12 квітня.", "12", "Хакатон починається 26 квітня.", "26"),
    (
        "розблокування токенів",
        "Розблокування токенів відбудеться 1 вересня.",
        "вересня",
        "Розблокування токенів відбудеться 1 грудня.",
        "грудня",
    ),
]
for i, (subj, old, okey, new, nkey) in enumerate(UD, 1):
    case(
        f"uk-date-{i:02d}",
        "uk",
        "date_move",
        [(f"Нотатка: {old}", [(subj, old)]), (f"Перенесли: {new}", [(subj, new)])],
        [nkey],
        stale=[okey],
    )

US = [
    (
        "офіс",
        "Офіс команди у Львові.",
        "львові",
        ["Офіс команди у Львові.", "офіс команди у львові", "Офіс команди у Львові!"],
    ),
    (
        "мова коду",
        "Код написано на Python.",
        "python",
        ["Код написано на Python.", "код написано на python", "Код написано на Python."],
    ),
    (
        "підписанти",
        "Мультипідпис має п'ять підписантів.",
        "п ять",
        ["Мультипідпис має п'ять підписантів.", "Мультипідпис має п'ять підписантів"],
    ),
    (
        "пошта підтримки",
        "Запити підтримки йдуть на help@daarion.city.",
        "help daarion city",
        [
            "Запити підтримки йдуть на help@daarion.city.",
            "запити підтримки йдуть на help@daarion.city",
        ],
    ),
    (
        "термін голосування",
        "Голосування за пропозицію триває 7 днів.",
        "7",
        [
            "Голосування за пропозицію триває 7 днів.",
            "Голосування за пропозицію триває 7 днів!",
            "голосування за пропозицію триває 7 днів",
        ],
    ),
]
for i, (subj, _fact, key, variants) in enumerate(US, 1):
    steps = [(f"({n + 1}) {v}", [(subj, v)]) for n, v in enumerate(variants)]
    case(f"uk-dup-{i:02d}", "uk", "duplicate_restated", steps, [key])

UU = [
    (
        ("скарбник", "Олена є скарбником."),
        ("керівник дизайну", "Марія керує дизайном."),
        ("скарбник", "Тарас є скарбником."),
        "тарас",
        "олена",
        "марія",
    ),
    (
        ("дата запуску", "Запуск 5 травня."),
        ("місце запуску", "Подія запуску відбудеться у Києві."),
        ("дата запуску", "Запуск 2 червня."),
        "червня",
        "травня",
        "києві",
    ),
    (
        ("бюджет", "Бюджет становить 100 доларів."),
        ("власник бюджету", "Іван погоджує зміни бюджету."),
        ("бюджет", "Бюджет становить 150 доларів."),
        "150",
        "100",
        "іван",
    ),
    (
        ("кількість вузлів", "Мережа має 4 валідатори."),
        ("хостинг вузлів", "Валідатори розміщені у Франкфурті."),
        ("кількість вузлів", "Мережа має 7 валідаторів."),
        "7",
        "4",
        "франкфурті",
    ),
    (
        ("стендап", "Стендап о 10:00."),
        ("інструмент зустрічей", "Стендап проходить у Jitsi."),
        ("стендап", "Стендап о 11:30."),
        "11 30",
        "10 00",
        "jitsi",
    ),
]
for i, (a, b, c, nkey, okey, skey) in enumerate(UU, 1):
    case(
        f"uk-survive-{i:02d}",
        "uk",
        "unrelated_survives",
        [(f"Дві речі: {a[1]} {b[1]}", [a, b]), (f"Оновлення: {c[1]}", [c])],
        [nkey, skey],
        stale=[okey],
        survive=[skey],
    )

# Harder: the model words the subject differently the second time (a real model does this).
H = [
    (
        "en-subject-drift-01",
        "en",
        ("treasury multisig", "The treasury multisig needs 2 of 3."),
        ("treasury multi-sig threshold", "The treasury multi-sig threshold is 3 of 5."),
        "3 5",
        "2 3",
    ),
    (
        "en-subject-drift-02",
        "en",
        ("release manager", "Petro is the release manager."),
        ("releases owner", "Oksana now owns releases."),
        "oksana",
        "petro",
    ),
    (
        "uk-subject-drift-01",
        "uk",
        ("скарбник", "Олена є скарбником."),
        ("скарбник DAO", "Тарас тепер скарбник DAO."),
        "тарас",
        "олена",
    ),
]
for cid, lang, a, b, nkey, okey in H:
    case(cid, lang, "subject_drift", [(a[1], [a]), (b[1], [b])], [nkey], stale=[okey])

print("# Labelled update cases for `make eval-facts` (generated by gen_cases.py; edit either).")
print(yaml.safe_dump({"cases": C}, allow_unicode=True, sort_keys=False, width=100))
