"""Offer pages: helpers post and close offers; residents find offers near them and ask one."""

from datetime import datetime

from flask import (
    Blueprint,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_datetime, format_timedelta
from flask_babel import gettext as _

from connect import clock
from connect.accounts.auth import current_user
from connect.accounts.views import safe_next
from connect.errors import ConnectError, NotFound
from connect.i18n import away_label, distance_label
from connect.offers import queries, services
from connect.offers.forms import KIND_LABELS, OfferForm
from connect.offers.models import REPORTABLE
from connect.offers.schemas import OfferCreateSchema
from connect.requests import privacy
from connect.requests.categories import LABELS as CATEGORY_LABELS
from connect.requests.forms import HelpRequestForm, local_phone, places
from connect.requests.phones import DuplicateRequest, PhoneBlocked
from connect.requests.privacy import PRIVATE, Viewer
from connect.requests.queries import effective_status as request_status
from connect.requests.schemas import RequestCreateSchema
from connect.requests.views import _remembered_tokens, keep_private, remember_token
from connect.safety import reports
from connect.safety.forms import ReportForm
from connect.spatial import latlon
from connect.web import ratelimits
from connect.web.access import signed_in
from connect.web.boundary import when_refused
from connect.web.pages import answer_expired_forms, message_page, problem_page

bp = Blueprint("offer", __name__)
# A form posted from a stale page (or with cookies off): a page that says so, and a way back.
answer_expired_forms(bp, link="offer.nearby")

OFFER_ID = "<int(max=2147483647):offer_id>"
# "Help near you": within this of the chosen place; around the map's centre when none is.
NEARBY_RADIUS_M = 10_000
WIDE_RADIUS_M = 30_000
NEARBY_LIMIT = 50


# Pages for signed-in helpers: others log in first and come back here (a form, to their offers).
helper_page = signed_in(after_post="offer.mine")


# -- residents: offers near you, asking one ---------------------------------------------


@bp.get("/offers")
def nearby():
    """“Giúp đỡ gần bạn”: open offers nearest first, from a place or the phone's location."""
    # offers.js rounds the phone's location to ~100 m before sending: no home in a URL.
    where = _searched_place()
    lat, lon = where["lat"], where["lon"]
    radius = NEARBY_RADIUS_M if where["chosen"] else WIDE_RADIUS_M
    items = [_card(item) for item in queries.nearby_offers(lat, lon, radius, NEARBY_LIMIT)]
    return render_template(
        "offers/nearby.html",
        offers=items,
        where=where,
        places=places(),
        radius=distance_label(radius),
    )


def _searched_place():
    """{lat, lon, chosen, place} from ?place=<index> or ?lat=&lon= (3 decimals kept)."""
    place = request.args.get("place", "")
    listed = places()
    if place.isdigit() and int(place) < len(listed):
        _name, lat, lon = listed[int(place)]
        return {"lat": lat, "lon": lon, "chosen": True, "place": place}
    try:
        lat, lon = float(request.args["lat"]), float(request.args["lon"])
    except (KeyError, ValueError):
        lat = lon = None
    if lat is not None and -90 <= lat <= 90 and -180 <= lon <= 180:
        return {"lat": round(lat, 3), "lon": round(lon, 3), "chosen": True, "place": ""}
    lat, lon = current_app.config["MAP_CENTER"]
    return {"lat": lat, "lon": lon, "chosen": False, "place": ""}


@bp.route(f"/offers/{OFFER_ID}/ask", methods=["GET", "POST"])
@ratelimits.post_per_ip
@ratelimits.post_per_phone
def ask(offer_id):
    """“Nhờ giúp”: the request form; the request goes straight to the offer's helper."""
    user = current_user()
    offer = _shown_offer(offer_id, user)
    if queries.effective_status(offer) != "open":
        return _closed_offer()
    if queries.is_offerer(offer, user):
        return _message(
            _("This is your own offer"),
            _("People near you can ask it for help from the list of offers."),
            url_for(".mine"),
            403,
        )
    if request.method == "GET":
        form = HelpRequestForm(data={"categories": list(offer.categories), "urgency": "normal"})
    else:
        form = HelpRequestForm()
    duplicate = None
    if form.validate_on_submit():
        data = form.load_into(RequestCreateSchema())
        if data is not None:
            try:
                _asked, token = services.ask_offer(
                    offer_id,
                    data,
                    requester=user,
                    source="web",
                    manage_tokens=_remembered_tokens(),
                )
            except DuplicateRequest as exc:
                duplicate = {"token": exc.owner_token}
            except PhoneBlocked:
                form.phone.errors = [*form.phone.errors, PhoneBlocked.page_message]
            except ConnectError:  # closed, expired or hidden meanwhile
                return _closed_offer()
            else:
                remember_token(token)
                flash(_("Your request went to this helper. They will call you soon."), "success")
                return redirect(url_for("resident.manage", token=token))
    page = render_template(
        "offers/ask.html",
        form=form,
        offer=_card(_public(offer)),
        places=places(),
        duplicate=duplicate,
        hotline=current_app.config["HOTLINE"],
    )
    status = 409 if duplicate else 422 if form.errors else 200
    response = make_response(page, status)
    # A duplicate answer may link to this browser's own request (its manage token).
    return keep_private(response) if duplicate and duplicate["token"] else response


def _report_page(offer_id):
    """This report form, and where it goes back to afterwards."""
    return url_for(".report", offer_id=offer_id, next=safe_next(request.values.get("next")))


def _not_reported(error, _user, **_view_args):
    if isinstance(error, reports.AlreadyReported):
        flash(
            _("You have already reported this offer. Thank you: a coordinator will look at it."),
            "info",
        )
    else:
        flash(_("This offer can no longer be reported."), "error")
    return redirect(_report_back())


def _report_back():
    return safe_next(request.values.get("next")) or url_for(".nearby")


@bp.route(f"/offers/{OFFER_ID}/report", methods=["GET", "POST"])
@ratelimits.reports_per_account
@signed_in(back=_report_page)
def report(user, offer_id):
    """Báo xấu: a reason and an optional comment; signed-in accounts only, counted once."""
    asked_next = safe_next(request.values.get("next"))
    back = _report_back()
    offer = _shown_offer(offer_id, user)
    if queries.is_offerer(offer, user):
        return _message(
            _("This is your own offer"),
            _("To change or close it, open your offers."),
            url_for(".mine"),
            403,
        )
    if queries.effective_status(offer) not in REPORTABLE:
        return _message(
            _("This offer is closed"),
            _("It is no longer shown to anyone, so there is nothing to report."),
            back,
            409,
        )
    form = ReportForm()
    if request.method == "GET":
        form.next.data = asked_next or ""
    if form.validate_on_submit():
        return _send_report(user, offer_id=offer_id, form=form, back=back)
    return render_template(
        "offers/report.html", form=form, offer=_card(_public(offer)), back=back, offer_id=offer_id
    ), 422 if form.errors else 200


@when_refused(_not_reported)  # any refusal of the report itself: closed or hidden meanwhile
def _send_report(user, offer_id, form, back):
    reports.report("offer", offer_id, user, form.reason.data, form.comment.data or None)
    flash(_("Thank you for telling us. A coordinator will look at this offer."), "success")
    return redirect(back)


# -- helpers: post, see and close your offers -------------------------------------------


@bp.get("/volunteer/offers")
@helper_page
def mine(user):
    """Your offers, the requests people asked of them, and a button to close each."""
    now = clock.now()
    offers = queries.offers_of(user.id)
    asks = queries.asks_of([offer.id for offer in offers])
    cards, viewer = [], Viewer(user, channel="page")
    for offer in offers:
        card = _card(_public(offer))
        card.update(
            status=queries.effective_status(offer, now),
            asks=[_ask(help_request, user, now) for help_request in asks[offer.id]],
        )
        if privacy.view_for(offer, viewer) == PRIVATE:
            card.update(
                contact_name=offer.contact_name,
                phone=local_phone(offer.phone),
                address=offer.address,
            )
        cards.append(card)
    return render_template("offers/mine.html", offers=cards)


@bp.route("/volunteer/offers/new", methods=["GET", "POST"])
@ratelimits.offers_per_account
@helper_page
def new(user):
    """Post an offer: what, how much, where, for how long."""
    form = OfferForm() if request.method == "POST" else OfferForm.for_user(user)
    if form.validate_on_submit():
        data = form.load_into(OfferCreateSchema())
        if data is not None:
            services.post_offer(user, data)
            flash(
                _("Your offer is posted. People near you can see it and ask for help."), "success"
            )
            return redirect(url_for(".mine"))
    return render_template(
        "offers/new.html", form=form, places=places()
    ), 422 if form.errors else 200


def _not_closed(_error, _user, **_view_args):
    flash(_("This offer could not be closed: it is already closed, or not yours."), "error")
    return redirect(url_for(".mine"))


@bp.post(f"/volunteer/offers/{OFFER_ID}/close")
@helper_page
@when_refused(_not_closed)
def close(user, offer_id):
    """Close an offer: it leaves the list and the map."""
    services.close_offer(offer_id, user)
    flash(_("Your offer is closed. Thank you for helping!"), "success")
    return redirect(url_for(".mine"))


# -- helpers ---------------------------------------------------------------------------


def _shown_offer(offer_id, user):
    """The offer, or 404 when it is unknown or hidden from this caller."""
    offer = queries.get_offer(offer_id)
    if offer.status == "hidden" and not privacy.may_see_contact(offer, Viewer(user)):
        raise NotFound("No offer with this id.")
    return offer


def _public(offer):
    """An offer's public fields, in the shape of a nearby item (no distance)."""
    lat, lon = latlon(offer.public_location)
    return {
        "id": offer.id,
        "kind": offer.kind,
        "title": offer.title,
        "description": offer.description,
        "categories": offer.categories,
        "quantity": offer.quantity,
        "location": {"lat": round(lat, 5), "lon": round(lon, 5)},
        "available_until": clock.isoformat(offer.available_until),
        "created_at": clock.isoformat(offer.created_at),
    }


def _card(item):
    """A public offer with what the pages print."""
    until = datetime.fromisoformat(item["available_until"].rstrip("Z"))
    card = {
        **item,
        "kind_label": KIND_LABELS.get(item["kind"], item["kind"]),
        "category_labels": [CATEGORY_LABELS.get(name, name) for name in item["categories"]],
        "until": format_datetime(until, "short"),
    }
    if "distance_m" in item:
        card["distance"] = away_label(item["distance_m"])
    return card


def _ask(help_request, user, now):
    """A request asked of one of your offers: whether it is yours to open now."""
    status = request_status(help_request, now)
    return {
        "id": help_request.id,
        "status": status,
        "category_labels": [CATEGORY_LABELS.get(name, name) for name in help_request.categories],
        "age": format_timedelta(
            help_request.created_at - now, granularity="minute", add_direction=True
        ),
        "yours": status == "claimed" and help_request.claimed_by_id == user.id,
    }


def _closed_offer():
    return _message(
        _("This offer is closed"),
        _(
            "It is no longer available. Look for another offer near you, or ask for help: "
            "volunteers near you will see it."
        ),
        url_for(".nearby"),
        409,
    )


def _message(title, message, back, status):
    return message_page(title, message, back, _("Go back"), status)


@bp.errorhandler(ConnectError)
def problem(error):
    """A wrong link or a busy database, in words."""
    return problem_page(
        error,
        {404: (_("Not found"), _("We could not find this offer. It may have been closed."))},
        url_for(".nearby"),
    )
