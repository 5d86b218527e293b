"""The yardstick for the registration page: a bare Flask-WTF form page (CSRF on), served as `bench.bare:app`."""
import os

from flask import Flask, render_template
from jinja2 import DictLoader
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired

PAGE = """<!doctype html><title>Sign up</title>
<form method="post">{{ form.hidden_tag() }}
{% for field in form if field.widget.input_type != "hidden" %}<p>{{ field.label }} {{ field() }}</p>{% endfor %}
<button>Sign up</button></form>"""


class SignUpForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired()])
    email = StringField("Email", validators=[DataRequired()])
    password = PasswordField("Password", validators=[DataRequired()])
    confirm = PasswordField("Repeat password", validators=[DataRequired()])
    captcha = StringField("Characters in the picture", validators=[DataRequired()])


app = Flask(__name__)
app.config["SECRET_KEY"] = os.environ["SECRET_KEY"]
app.jinja_loader = DictLoader({"sign_up.html": PAGE})  # compiled once and cached, as a template file would be


@app.route("/", methods=["GET", "POST"])
def sign_up():
    return render_template("sign_up.html", form=SignUpForm())
