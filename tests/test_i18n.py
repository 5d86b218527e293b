"""English and Simplified Chinese: the catalogue is complete and compiled, the visitor's choice (switcher,
saved on the account) beats Accept-Language, and mail goes out in its recipient's language through the worker."""
import os
from datetime import datetime

from babel.messages.frontend import CommandLineInterface
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from sqlalchemy import select

from app.accounts.passwords import hash_password
from app.extensions import db
from app.models import OutboxMail, User
from tests.helpers import PASSWORD, deliver, form_page, hidden_inputs, login, post_form, register_verified

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CATALOGUE = os.path.join(ROOT, "app", "translations", "zh", "LC_MESSAGES")
ZH = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}


def text(response):
    return response.get_data(as_text=True)


def switch(client, language, path="/auth/login"):
    """Press the switcher's button on `path`, as a browser without JavaScript does."""
    fields = form_page(client, path)
    return client.post(f"/language?next={path}", data={"csrf_token": fields["csrf_token"], "language": language})


# The catalogue.

def test_every_translatable_string_has_a_chinese_translation(tmp_path):
    """Extraction as `make translations` does it; a new _() string without its Chinese fails here."""
    pot = tmp_path / "messages.pot"
    cwd = os.getcwd()
    os.chdir(ROOT)  # babel.cfg's patterns are relative to the repository
    try:
        CommandLineInterface().run(["pybabel", "-q", "extract", "-F", "babel.cfg", "-k", "_l", "--no-location",
                                    "--omit-header", "-o", str(pot), "."])
    finally:
        os.chdir(cwd)
    with open(pot, "rb") as f:
        wanted = {message.id for message in read_po(f) if message.id}
    with open(os.path.join(CATALOGUE, "messages.po"), "rb") as f:
        catalogue = read_po(f)
    assert len(wanted) > 150  # the extraction found the app's strings (templates and Python)
    missing = [msgid for msgid in wanted if msgid not in catalogue]
    untranslated = [m.id for m in catalogue if m.id in wanted and not all(m.string if isinstance(m.string, tuple)
                                                                           else [m.string])]
    fuzzy = [m.id for m in catalogue if m.id and m.fuzzy]
    assert (missing, untranslated, fuzzy) == ([], [], []), "run `make translations` and translate these"


def test_the_committed_mo_is_compiled_from_the_po():
    """The .mo is committed (the Procfile's processes read it as it is): it must say what the .po says."""
    def entries(catalogue):  # plural ids and strings come back as lists from a .mo, tuples from a .po
        return {tuple(m.id) if isinstance(m.id, (list, tuple)) else m.id:
                tuple(m.string) if isinstance(m.string, (list, tuple)) else m.string
                for m in catalogue if m.id and not m.fuzzy}

    with open(os.path.join(CATALOGUE, "messages.po"), "rb") as f:
        source = entries(read_po(f))
    with open(os.path.join(CATALOGUE, "messages.mo"), "rb") as f:
        compiled = entries(read_mo(f))
    assert compiled == source, "run `make translations` to compile the catalogue"


# Which language a page is in.

def test_english_by_default_and_chinese_for_a_browser_that_asks_for_it(client):
    english = text(client.get("/auth/register"))
    assert '<html lang="en">' in english
    assert "Create your account" in english
    chinese = text(client.get("/auth/register", headers=ZH))
    assert '<html lang="zh-Hans">' in chinese
    assert "创建账户" in chinese
    assert "Create your account" not in chinese
    assert "用户名" in chinese  # a form label
    assert "证明你不是机器人" in chinese  # the captcha too
    assert '<button type="submit" class="link" name="language" value="en" lang="en"' in chinese  # the way back


def test_the_switcher_changes_the_language_and_back_and_comes_back_to_the_page(client):
    response = switch(client, "zh", "/auth/forgot")
    assert response.status_code == 303
    assert response.headers["Location"] == "/auth/forgot"
    assert "language=zh" in response.headers["Set-Cookie"]
    assert "HttpOnly" in response.headers["Set-Cookie"]
    page = text(client.get("/auth/forgot", headers={"Accept-Language": "en"}))  # the choice beats the header
    assert '<html lang="zh-Hans">' in page
    assert "忘记密码？" in page
    assert switch(client, "en", "/auth/forgot").status_code == 303
    page = text(client.get("/auth/forgot", headers=ZH))
    assert '<html lang="en">' in page
    assert "Forgot your password?" in page


def test_the_switcher_needs_its_csrf_token_and_stays_on_the_site(client):
    assert client.post("/language", data={"language": "zh"}).status_code == 400
    token = form_page(client, "/")["csrf_token"]
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        response = client.post(f"/language?next={target}", data={"csrf_token": token, "language": "zh"})
        assert response.status_code == 303
        assert response.headers["Location"] == "/"
    response = client.post("/language", data={"csrf_token": token, "language": "xx"})
    assert response.status_code == 303
    assert "Set-Cookie" not in response.headers  # unknown: nothing changes


def test_a_logged_in_users_choice_is_saved_and_wins_over_accept_language(app, client, run_jobs, mailbox):
    register_verified(client, run_jobs, mailbox)
    assert login(client).status_code == 303
    assert switch(client, "zh", "/account").status_code == 303
    with app.app_context():
        assert db.session.scalar(select(User.language)) == "zh"
    laptop = app.test_client()  # another browser: no cookie, and it asks for English
    assert login(laptop).status_code == 303
    page = text(laptop.get("/account", headers={"Accept-Language": "en-GB,en"}))
    assert '<html lang="zh-Hans">' in page
    assert "我的账户" in page


# What the Chinese pages say.

def test_form_errors_flashes_and_error_pages_are_in_chinese(client):
    fields = form_page(client, "/auth/register")
    page = text(client.post("/auth/register", data={**fields, "email": "nobody"}, headers=ZH))
    assert "请设置用户名。" in page
    assert "邮箱地址无效" in page
    assert "请设置密码。" in page
    assert "还需要输入图片中的字符。" in page or "不对，请输入新图片中的字符。" in page
    response = client.get("/no/such/page", headers=ZH)
    assert response.status_code == 404
    assert "页面不存在" in text(response)
    assert "返回首页" in text(response)
    assert "请先登录再查看此页面。" in text(client.get("/account", headers=ZH, follow_redirects=True))


def test_the_captcha_audio_speaks_the_pages_language(client):
    page = text(client.get("/auth/register", headers=ZH))
    challenge = hidden_inputs(page)["captcha_id"]
    assert f'src="/captcha/{challenge}.wav?lang=zh"' in page
    assert 'data-captcha-ready="新的图片和语音已准备好。"' in page  # what captcha.js announces after a swap
    fresh = client.post("/captcha/new", data={"previous": challenge},
                        headers={**ZH, "X-CSRFToken": hidden_inputs(page)["csrf_token"]})
    assert fresh.get_json()["audio"].endswith(".wav?lang=zh")


def test_dates_are_shown_in_timezone(make_app, mailbox, redis_server):
    app = make_app(TIMEZONE="Asia/Shanghai")
    client = app.test_client()
    with app.app_context():  # 20:00 UTC is already the next day in Shanghai
        db.session.add(User(username="alice", email="alice@example.com", password_hash=hash_password(PASSWORD),
                            created_at=datetime(2026, 3, 1, 20, 0), verified_at=datetime(2026, 3, 1, 20, 5)))
        db.session.commit()
    assert login(client).status_code == 303
    assert "March 2, 2026" in text(client.get("/account"))
    assert switch(client, "zh", "/account").status_code == 303
    assert "2026年3月2日" in text(client.get("/account"))


# Mail, written when the worker sends it, in the recipient's language.

def test_a_chinese_sign_up_gets_a_chinese_verification_mail_from_the_worker(app, client, run_jobs, mailbox):
    fields = form_page(client, "/auth/register")
    response = client.post("/auth/register", headers=ZH, data={
        **fields, "username": "xiaoming", "email": "xiaoming@example.com", "password": PASSWORD,
        "confirm": PASSWORD, "captcha": "PASSED"})
    assert response.status_code == 303
    with app.app_context():
        assert db.session.scalar(select(OutboxMail.language)) == "zh"
    [mail] = deliver(run_jobs, mailbox)  # a worker with no request to look at
    assert mail.subject == "请确认你的邮箱地址"
    assert "xiaoming，你好：" in mail.text
    assert "验证码" in mail.text
    assert "Hello" not in mail.text
    assert "确认我的邮箱地址" in mail.html
    assert "请查收邮件" in text(client.get("/auth/check-email", headers=ZH))


def test_mail_follows_the_recipients_saved_language_not_the_requesters(app, client, run_jobs, mailbox):
    register_verified(client, run_jobs, mailbox)
    with app.app_context():
        db.session.scalar(select(User)).language = "zh"
        db.session.commit()
    english_browser = app.test_client()
    response = post_form(english_browser, "/auth/forgot", email="alice@example.com")
    assert response.status_code == 303
    mail = deliver(run_jobs, mailbox, count=2)[-1]
    assert mail.subject == "重置你的密码"
    assert "分钟内打开这个链接" in mail.text
    assert "Forgot your password?" in text(english_browser.get("/auth/forgot"))  # the page stays English
