"""Chinese in a real browser against the Procfile's processes: the switcher (no JavaScript), and a sign-up whose
verification mail the worker writes in Chinese."""
import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.processes


def test_the_switcher_turns_the_pages_chinese_and_back_without_javascript(site, browser):
    base, _ = site
    page = browser.new_page(java_script_enabled=False, locale="en-US")
    page.goto(base + "/auth/register")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.get_by_role("button", name="中文").click()
    expect(page.locator("h1")).to_have_text("创建账户")
    assert page.url == base + "/auth/register"
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    expect(page.get_by_label("用户名")).to_be_visible()
    assert page.get_attribute("fieldset.captcha audio", "src").endswith("?lang=zh")

    page.get_by_role("link", name="登录").first.click()  # the choice follows the visitor from page to page
    expect(page.locator("h1")).to_have_text("登录")
    page.get_by_role("button", name="English").click()
    expect(page.locator("h1")).to_have_text("Log in")
    expect(page.locator("html")).to_have_attribute("lang", "en")


def test_a_browser_set_to_chinese_signs_up_and_gets_a_chinese_mail(site, browser, mailbox):
    base, _ = site
    page = browser.new_page(locale="zh-CN")  # Chromium sends Accept-Language: zh-CN
    page.goto(base + "/auth/register")
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    page.get_by_label("用户名").fill("xiaohong")
    page.get_by_label("邮箱").fill("xiaohong@example.com")
    page.get_by_label("密码", exact=True).fill("correct horse battery")
    page.get_by_label("再次输入密码").fill("correct horse battery")
    page.get_by_label("图片或语音中的字符").fill("PASSED")
    page.get_by_role("button", name="创建账户").click()
    page.wait_for_url("**/auth/check-email")
    expect(page.locator("h1")).to_have_text("请查收邮件")
    [mail] = mailbox.wait_for(timeout=30)  # sent by the worker process, which has no request to ask
    assert mail.subject == "请确认你的邮箱地址"
    assert "xiaohong，你好：" in mail.text
