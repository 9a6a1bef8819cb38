"""The Desktop drain's rules with fakes: DynamoDB in-process (moto, the tables CDK declares), links with real
conditional semantics, a platform fake, and the Desktop emulator's company file standing in for QuickBooks
(pure Python, no sockets). Each round trip is drain.next_request -> company.process -> drain.apply, as the Web
Connector runs it; a "lost reply" is a processed request whose answer is dropped."""

import dataclasses
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from emulators.qbdesktop.company import Company
from shared.domain.settings import SyncSettings
from shared.fieldservice.models import Address, Client, Contact, Invoice, InvoiceLine, JobType, Page, Site
from tests.emulators.qbdesktop.helpers import message_set
from tests.fakes import FakeLinkStore

NOW = datetime(2026, 11, 1, tzinfo=UTC)
TENANT = "t1"


def _client(cid, company, active=True):
    return Client(id=cid, company_name=company, contact=Contact(email=f"{cid}@example.com"),
                  billing_address=Address(line1="1 Main St", city="Phoenix", state="AZ", postal_code="85001",
                                          country="US"), active=active, created_at=NOW, updated_at=NOW)


def _invoice(iid, client_id, total, status="ready_for_sync", job_type_id=None, tax="0"):
    amount = Decimal(total)
    line = InvoiceLine(id="1", item_id=None, description="Visit", quantity=Decimal("1"), unit_price=amount,
                       amount=amount, taxable=Decimal(tax) > 0)
    return Invoice(id=iid, number=iid, external_number=None, client_id=client_id, site_id=None, job_id=None,
                   job_type_id=job_type_id, status=status, issued_on=date(2026, 11, 1), due_on=None, currency="USD",
                   lines=(line,), subtotal=amount, tax_total=Decimal(tax), total=amount + Decimal(tax),
                   amount_paid=Decimal("0"), balance=amount, memo=None, created_at=NOW, updated_at=NOW)


class FakePlatform:
    def __init__(self, clients=(), invoices=()):
        self.clients = {c.id: c for c in clients}
        self.invoices = {i.id: i for i in invoices}
        self.sites, self.payments = {}, {}

    def list_clients(self, tenant_id, cursor=None, **_):
        return Page(items=tuple(self.clients.values()))

    def list_sites(self, tenant_id, cursor=None, updated_since=None, **_):
        return Page(items=tuple(s for s in self.sites.values() if updated_since is None
                                or s.updated_at >= updated_since))

    def get_site(self, tenant_id, site_id):
        return self.sites[site_id]

    def create_site(self, tenant_id, draft, idempotency_key=None):
        site = Site(id=f"site{len(self.sites)}", client_id=draft.client_id, name=draft.name, address=draft.address,
                    contact=None, active=draft.active, created_at=NOW, updated_at=NOW)
        self.sites[site.id] = site
        return site

    def list_invoices(self, tenant_id, cursor=None, status=None, **_):
        return Page(items=tuple(i for i in self.invoices.values() if status is None or i.status == status))

    def list_payments(self, tenant_id, cursor=None, **_):
        return Page(items=())

    def get_client(self, tenant_id, client_id):
        return self.clients[client_id]

    def update_client(self, tenant_id, client_id, **changes):
        self.clients[client_id] = dataclasses.replace(self.clients[client_id], **changes)
        return self.clients[client_id]

    def create_client(self, tenant_id, draft, idempotency_key=None):
        client = Client(id=f"new{len(self.clients)}", company_name=draft.company_name, contact=draft.contact,
                        billing_address=draft.billing_address, active=True, created_at=NOW, updated_at=NOW)
        self.clients[client.id] = client
        return client

    def list_job_types(self, tenant_id, cursor=None, **_):
        return Page(items=(JobType(id="jt1", name="Maintenance", active=True, created_at=NOW, updated_at=NOW),
                           JobType(id="jt2", name="Repair", active=True, created_at=NOW, updated_at=NOW)))

    def get_invoice(self, tenant_id, invoice_id):
        return self.invoices[invoice_id]

    def update_invoice(self, tenant_id, invoice_id, external_number=None, status=None):
        changes = {k: v for k, v in {"external_number": external_number, "status": status}.items() if v}
        self.invoices[invoice_id] = dataclasses.replace(self.invoices[invoice_id], **changes)
        return self.invoices[invoice_id]


@pytest.fixture
def world(aws_tables):
    from shared.data.desktop_repo import DesktopRepo
    from shared.data.repos import ErrorRepo, RunRepo
    from shared.qbdesktop.drain import Drain, DrainDeps

    repo, company = DesktopRepo(), Company()
    repo.create_connection(TENANT, "user", "{OWNER}", "{FILE}", "scrypt$x")
    platform = FakePlatform([_client("c1", "Acme Heating")],
                            [_invoice("i1", "c1", "50.00"), _invoice("i0", "c1", "0.00"),
                             _invoice("d1", "c1", "70.00", status="draft")])
    links = FakeLinkStore()
    deps = DrainDeps(tenant_id=TENANT, repo=repo, links=links, errors=ErrorRepo(), runs=RunRepo(),
                     platform=platform, settings=settings(company))
    return Drain(deps), company, platform, links


def list_id(company, kind, name):
    return next(k for k, r in company.lists[kind].items() if (r.findtext("FullName") or r.findtext("Name")) == name)


def settings(company, invoices=None, **sections):
    """The shared settings document as a Desktop tenant saves it: invoice lines post to the Services account."""
    body = {"invoices": {"enabled": True, "income_account_id": list_id(company, "Account", "Services"),
                         **(invoices or {})}, **sections}
    return SyncSettings.model_validate(body)


def round_trip(drain, company, ticket="s1", lose_reply=False):
    found = drain.next_request(ticket)
    if found is None:
        return None
    item, request = found
    response = company.process(request)
    if not lose_reply:
        drain.apply(drain.d.repo.get_work(TENANT, item.sk), response)
    return request


def drain_all(drain, company, ticket="s1"):
    sent = []
    while (request := round_trip(drain, company, ticket)) is not None:
        sent.append(request)
    return sent


def onboard(drain, company):
    drain.request_onboarding("qbd-run1")
    drain_all(drain, company)
    drain.request_sync("qbd-run2")


def test_onboarding_adds_the_platform_client_once_and_links_it(world):
    drain, company, _, links = world
    onboard(drain, company)
    names = [r.findtext("FullName") for r in company.lists["Customer"].values()]
    assert names == ["Acme Heating"]
    assert links.get(TENANT, "qbd_client", "c1").qbo_id in company.lists["Customer"]


def test_only_ready_non_zero_invoices_are_added_and_take_quickbooks_numbers(world):
    drain, company, platform, _ = world
    onboard(drain, company)
    drain_all(drain, company)
    invoices = list(company.txns["Invoice"].values())
    assert [i.findtext("Subtotal") for i in invoices] == ["50.00"]
    assert platform.invoices["i1"].external_number == invoices[0].findtext("RefNumber")
    assert platform.invoices["i0"].external_number is None and platform.invoices["d1"].external_number is None


def test_a_lost_reply_after_quickbooks_applied_the_add_is_looked_up_and_adopted(world):
    drain, company, platform, _ = world
    onboard(drain, company)
    while True:  # up to the InvoiceAdd, whose reply is lost
        found = drain.next_request("s1")
        item, request = found
        response = company.process(request)
        if "<InvoiceAddRq" in request:
            break
        drain.apply(drain.d.repo.get_work(TENANT, item.sk), response)
    sent = drain_all(drain, company, ticket="s2")  # the next session
    assert "<InvoiceQueryRq" in sent[0] and not any("<InvoiceAddRq" in s for s in sent)
    assert len(company.txns["Invoice"]) == 1
    assert platform.invoices["i1"].external_number == next(iter(company.txns["Invoice"].values())).findtext(
        "RefNumber")


def test_a_lost_request_that_quickbooks_never_applied_is_added_after_the_look_up(world):
    drain, company, _, _ = world
    onboard(drain, company)
    while True:
        item, request = drain.next_request("s1")
        if "<InvoiceAddRq" in request:
            break  # the request never reached QuickBooks
        drain.apply(drain.d.repo.get_work(TENANT, item.sk), company.process(request))
    sent = drain_all(drain, company, ticket="s2")
    assert "<InvoiceQueryRq" in sent[0] and sum("<InvoiceAddRq" in s for s in sent) == 1
    assert len(company.txns["Invoice"]) == 1


def test_a_customer_add_whose_reply_was_lost_is_found_by_full_name(world):
    drain, company, _, links = world
    drain.request_onboarding("qbd-run1")
    while True:
        item, request = drain.next_request("s1")
        response = company.process(request)
        if "<CustomerAddRq" in request:
            break
        drain.apply(drain.d.repo.get_work(TENANT, item.sk), response)
    sent = drain_all(drain, company, ticket="s2")
    assert any("<CustomerQueryRq" in s and "<FullName>Acme Heating</FullName>" in s for s in sent)
    assert not any("<CustomerAddRq" in s for s in sent) and len(company.lists["Customer"]) == 1
    assert links.get(TENANT, "qbd_client", "c1").qbo_id in company.lists["Customer"]


def _edit_in_quickbooks(company, list_id, phone, process=None):
    ret = company.lists["Customer"][list_id]
    (process or company.process)(message_set(f"<CustomerModRq><CustomerMod><ListID>{list_id}</ListID><EditSequence>"
                                f"{ret.findtext('EditSequence')}</EditSequence><Phone>{phone}</Phone></CustomerMod>"
                                "</CustomerModRq>"))


def test_a_stale_edit_sequence_is_re_read_and_the_mod_retried(world):
    drain, company, platform, links = world
    onboard(drain, company)
    drain_all(drain, company)
    qbd_id = links.get(TENANT, "qbd_client", "c1").qbo_id
    platform.clients["c1"] = dataclasses.replace(platform.clients["c1"], active=False)
    drain.request_sync("qbd-run3")
    real, edits = company.process, []

    def user_saves_once(request):  # a QuickBooks user saves the customer after our read, before our Mod
        if "<CustomerModRq" in request and not edits:
            edits.append(_edit_in_quickbooks(company, qbd_id, "555-0101", real))
        return real(request)

    company.process = user_saves_once
    sent = drain_all(drain, company)
    mods = [s for s in sent if "<CustomerModRq" in s]
    assert len(mods) == 2 and any("<CustomerQueryRq" in s and qbd_id in s for s in sent)
    ret = company.lists["Customer"][qbd_id]
    assert (ret.findtext("IsActive"), ret.findtext("Phone")) == ("false", "555-0101")


def test_an_edit_sequence_stale_every_time_ends_in_the_error_log_with_3200(world, monkeypatch):
    drain, company, platform, links = world
    onboard(drain, company)
    drain_all(drain, company)
    qbd_id = links.get(TENANT, "qbd_client", "c1").qbo_id
    platform.clients["c1"] = dataclasses.replace(platform.clients["c1"], active=False)
    drain.request_sync("qbd-run3")
    real = company.process

    def busy_user(request):  # someone saves the customer between every read and our Mod
        if "<CustomerModRq" in request:
            _edit_in_quickbooks(company, qbd_id, "555-0102", real)
        return real(request)

    monkeypatch.setattr(company, "process", busy_user)
    drain_all(drain, company)
    errors = drain.d.errors.list(TENANT)
    assert [(e.entity, e.entity_id, e.code) for e in errors] == [("client", "c1", "3200")]
    assert "out-of-date" in errors[0].message
    assert company.lists["Customer"][qbd_id].findtext("IsActive") == "true"


def test_a_customer_pull_restarts_its_iterator_in_a_new_session(world):
    drain, company, _, _ = world
    for i in range(150):
        company.process(message_set(f"<CustomerAddRq><CustomerAdd><Name>Q{i:03d}</Name></CustomerAdd>"
                                    "</CustomerAddRq>"))
    drain.request_onboarding("qbd-run1")
    lists = [round_trip(drain, company, ticket="s1") for _ in range(3)]  # accounts, classes, vendors first
    assert all("<AccountQueryRq" in r or "<ClassQueryRq" in r or "<VendorQueryRq" in r for r in lists)
    first = round_trip(drain, company, ticket="s1")
    assert 'iterator="Start"' in first
    company.end_session()  # the session ends mid-pull: QuickBooks forgets the iterator
    again = round_trip(drain, company, ticket="s2")
    assert 'iterator="Start"' in again
    assert 'iterator="Continue"' in round_trip(drain, company, ticket="s2")


def test_a_refused_message_set_is_recorded_with_its_hresult_and_not_retried_blindly(world):
    drain, company, _, _ = world
    drain.request_onboarding("qbd-run1")
    drain_all(drain, company)
    drain.request_sync("qbd-run2")
    item, _ = drain.next_request("s1")
    drain.refused(drain.d.repo.get_work(TENANT, item.sk), "0x80040400", "QuickBooks found an error when parsing")
    (error,) = drain.d.errors.list(TENANT)
    assert error.code == "0x80040400"
    assert drain.d.repo.get_work(TENANT, item.sk).status == "failed"


def test_job_types_set_the_invoice_class_creating_it_once_when_asked(world):
    drain, company, platform, _ = world
    company.process(message_set("<ClassAddRq><ClassAdd><Name>Service Calls</Name></ClassAdd></ClassAddRq>"))
    drain.d.settings = settings(company, job_types={"enabled": True, "class_mapping": {
        "jt1": {"mode": "create"}, "jt2": {"mode": "class", "class_id": list_id(company, "Class", "Service Calls")}}})
    platform.invoices = {"a": _invoice("a", "c1", "10.00", job_type_id="jt1"),
                         "b": _invoice("b", "c1", "20.00", job_type_id="jt2"),
                         "c": _invoice("c", "c1", "30.00")}
    onboard(drain, company)
    drain_all(drain, company)
    drain.request_sync("qbd-run3")
    drain_all(drain, company)  # a second run finds the class and creates nothing
    classes = sorted(r.findtext("FullName") for r in company.lists["Class"].values())
    assert classes == ["Maintenance", "Service Calls"]
    by_total = {r.findtext("Subtotal"): r.findtext("ClassRef/FullName") for r in company.txns["Invoice"].values()}
    assert by_total == {"10.00": "Maintenance", "20.00": "Service Calls", "30.00": None}


def test_a_chosen_tax_vendor_carries_the_platforms_rate_as_a_sales_tax_item(world):
    drain, company, platform, _ = world
    company.process(message_set("<VendorAddRq><VendorAdd><Name>AZ Dept of Revenue</Name></VendorAdd></VendorAddRq>"))
    drain.d.settings = settings(company, invoices={
        "tax_mode": "platform", "tax_vendor_id": list_id(company, "Vendor", "AZ Dept of Revenue")})
    platform.invoices = {"t": _invoice("t", "c1", "100.00", tax="8.60"), "u": _invoice("u", "c1", "50.00", tax="4.30"),
                         "n": _invoice("n", "c1", "10.00")}
    onboard(drain, company)
    drain_all(drain, company)
    tax_items = [r for r in company.lists["Item"].values() if r.tag == "ItemSalesTaxRet"]
    assert [(r.findtext("Name"), r.findtext("TaxRate"), r.findtext("TaxVendorRef/FullName")) for r in tax_items] == [
        ("Tax 8.6%", "8.6", "AZ Dept of Revenue")]  # one item for the one rate
    by_total = {r.findtext("Subtotal"): r.findtext("SalesTaxTotal") for r in company.txns["Invoice"].values()}
    assert by_total == {"100.00": "8.60", "50.00": "4.30", "10.00": "0.00"}


def test_failures_carry_quickbooks_codes_and_a_retry_after_the_fix_creates_each_record_once(world):
    drain, company, platform, _ = world
    drain.d.settings = settings(company, invoices={"income_account_id": "80000099-1"})  # deleted in QuickBooks
    onboard(drain, company)
    drain_all(drain, company)
    codes = sorted((e.entity, e.code) for e in drain.d.errors.list(TENANT))
    assert codes == [("ensure_item", "3140"), ("invoice", "3140")]  # QuickBooks' own code for both
    assert company.txns["Invoice"] == {}
    drain.d.settings = settings(company)  # the admin fixes the setting, then "Resync"
    assert drain.retry_failed() == 2
    drain_all(drain, company)
    assert len(company.txns["Invoice"]) == 1 and drain.d.errors.list(TENANT) == []
    assert drain.retry_failed() == 0


def _customer_row(company, name):
    return next(r for r in company.lists["Customer"].values() if r.findtext("FullName") == name)


def test_everyday_runs_ask_quickbooks_only_for_what_changed_since_the_cursor(world):
    drain, company, _, _ = world
    onboard(drain, company)
    first = drain_all(drain, company)  # nothing seen in QuickBooks before this run: everything is read
    assert "<FromModifiedDate>" not in next(s for s in first if "<CustomerQueryRq" in s)
    drain.request_sync("qbd-run3")
    sent = drain_all(drain, company)
    pull = next(s for s in sent if "<CustomerQueryRq" in s)
    cursor = drain._state()["cursors"]["customers"]
    assert "<FromModifiedDate>" in pull and "<ReceivePaymentQueryRq" in "".join(sent)
    # The look-back is five minutes before the newest change QuickBooks reported, in its own offset.
    since = datetime.fromisoformat(pull.split("<FromModifiedDate>")[1].split("<")[0])
    assert datetime.fromisoformat(cursor) - since == timedelta(minutes=5)


def test_a_quickbooks_edit_reaches_the_platform_and_is_not_echoed_back(world):
    drain, company, platform, links = world
    onboard(drain, company)
    drain_all(drain, company)
    qbd_id = links.get(TENANT, "qbd_client", "c1").qbo_id
    _edit_in_quickbooks(company, qbd_id, "555-0123")
    drain.request_sync("qbd-run3")
    sent = drain_all(drain, company)
    assert platform.clients["c1"].contact.phone == "555-0123"
    assert not any("<CustomerModRq" in s for s in sent)  # nothing went back to QuickBooks
    drain.request_sync("qbd-run4")
    assert not any("<CustomerModRq" in s for s in drain_all(drain, company))


def test_a_platform_edit_reaches_quickbooks_and_only_that_field_is_sent(world):
    drain, company, platform, links = world
    onboard(drain, company)
    drain_all(drain, company)
    contact = dataclasses.replace(platform.clients["c1"].contact, email="office@acme.example")
    platform.clients["c1"] = dataclasses.replace(platform.clients["c1"], contact=contact,
                                                 updated_at=datetime.now(UTC))
    drain.request_sync("qbd-run3")
    (mod,) = [s for s in drain_all(drain, company) if "<CustomerModRq" in s]
    assert "<Email>office@acme.example</Email>" in mod and "<Phone>" not in mod and "<Name>" not in mod
    ret = company.lists["Customer"][links.get(TENANT, "qbd_client", "c1").qbo_id]
    assert ret.findtext("Email") == "office@acme.example"
    assert links.get(TENANT, "qbd_client", "c1").sync_token == ret.findtext("EditSequence")


def test_quickbooks_master_keeps_platform_edits_out_of_quickbooks(world):
    drain, company, platform, _ = world
    onboard(drain, company)
    drain_all(drain, company)
    drain.d.settings = settings(company, clients={"direction": "quickbooks_master"})
    platform.clients["c1"] = dataclasses.replace(platform.clients["c1"], active=False, updated_at=datetime.now(UTC))
    drain.request_sync("qbd-run3")
    assert not any("<CustomerModRq" in s for s in drain_all(drain, company))


def test_a_customer_added_in_quickbooks_after_onboarding_becomes_a_client_once(world):
    drain, company, platform, links = world
    onboard(drain, company)
    drain_all(drain, company)
    company.process(message_set("<CustomerAddRq><CustomerAdd><Name>Zed Pools</Name><CompanyName>Zed Pools"
                                "</CompanyName><BillAddress><Addr1>2 Pool Ln</Addr1><City>Mesa</City><State>AZ</State>"
                                "<PostalCode>85201</PostalCode></BillAddress></CustomerAdd></CustomerAddRq>"))
    drain.request_sync("qbd-run3")
    drain_all(drain, company)
    drain.request_sync("qbd-run4")
    drain_all(drain, company)
    created = [c for c in platform.clients.values() if c.company_name == "Zed Pools"]
    assert len(created) == 1
    assert links.get(TENANT, "qbd_client", created[0].id).qbo_id == _customer_row(company, "Zed Pools").findtext(
        "ListID")


class ItemPlatform(FakePlatform):
    def __init__(self, *args, items=()):
        super().__init__(*args)
        self.items = {i.id: i for i in items}

    def list_items(self, tenant_id, cursor=None, **_):
        return Page(items=tuple(self.items.values()))

    def create_item(self, tenant_id, draft, idempotency_key=None):
        from shared.fieldservice.models import Item

        item = Item(id=f"it{len(self.items)}", name=draft.name, type=draft.type, description=draft.description,
                    sku=None, price=draft.price, cost=None, taxable=draft.taxable, active=draft.active,
                    created_at=NOW, updated_at=NOW)
        self.items[item.id] = item
        return item

    def update_item(self, tenant_id, item_id, **changes):
        self.items[item_id] = dataclasses.replace(self.items[item_id], **changes)
        return self.items[item_id]


def _platform_item(iid, name, kind, price="100.00"):
    from shared.fieldservice.models import Item, ItemType

    return Item(id=iid, name=name, type=ItemType(kind), description=name, sku=None, price=Decimal(price),
                cost=None, taxable=False, active=True, created_at=NOW, updated_at=NOW)


def _with_item_line(invoice, item_id):
    line = dataclasses.replace(invoice.lines[0], item_id=item_id)
    return dataclasses.replace(invoice, lines=(line,))


def test_items_sent_to_quickbooks_equipment_as_inventory_with_its_three_accounts(world):
    drain, company, platform, links = world
    platform.__class__ = ItemPlatform
    platform.items = {i.id: i for i in (_platform_item("eq1", "Compressor", "equipment", "900.00"),
                                        _platform_item("sv1", "Labor", "service", "80.00"))}
    platform.invoices = {"i1": _with_item_line(_invoice("i1", "c1", "900.00"), "eq1")}
    drain.d.settings = settings(company, items={
        "enabled": True, "direction": "platform_to_quickbooks",
        "income_account_id": list_id(company, "Account", "Sales"),
        "expense_account_id": list_id(company, "Account", "Cost of Goods Sold"),
        "asset_account_id": list_id(company, "Account", "Inventory Asset")})
    onboard(drain, company)
    drain_all(drain, company)
    by_name = {r.findtext("Name"): r for r in company.lists["Item"].values()}
    compressor, labor = by_name["Compressor"], by_name["Labor"]
    assert compressor.tag == "ItemInventoryRet" and labor.tag == "ItemServiceRet"
    assert (compressor.findtext("IncomeAccountRef/FullName"), compressor.findtext("COGSAccountRef/FullName"),
            compressor.findtext("AssetAccountRef/FullName")) == ("Sales", "Cost of Goods Sold", "Inventory Asset")
    assert labor.findtext("SalesOrPurchase/AccountRef/FullName") == "Sales"
    (invoice,) = company.txns["Invoice"].values()
    assert invoice.findtext("InvoiceLineRet/ItemRef/FullName") == "Compressor"


def test_items_from_quickbooks_reach_the_platform_and_invoices_never_create_items(world):
    drain, company, platform, _ = world
    platform.__class__ = ItemPlatform
    platform.items = {"own": _platform_item("own", "Platform Only", "service")}
    company.process(message_set(
        "<ItemServiceAddRq><ItemServiceAdd><Name>Tune-up</Name><SalesOrPurchase><Price>75.00</Price><AccountRef>"
        "<FullName>Services</FullName></AccountRef></SalesOrPurchase></ItemServiceAdd></ItemServiceAddRq>"))
    platform.invoices = {"i1": _with_item_line(_invoice("i1", "c1", "50.00"), "own")}
    drain.d.settings = settings(company, items={"enabled": True, "direction": "quickbooks_to_platform"})
    onboard(drain, company)
    drain_all(drain, company)
    names = {i.name: i for i in platform.items.values()}
    assert names["Tune-up"].price == Decimal("75.00") and str(names["Tune-up"].type) == "service"
    item_names = sorted(r.findtext("Name") for r in company.lists["Item"].values())
    assert "Platform Only" not in item_names and company.txns["Invoice"] == {}
    (error,) = [e for e in drain.d.errors.list(TENANT) if e.entity == "invoice"]
    assert error.code == "item_not_in_quickbooks"


def test_a_payment_received_in_quickbooks_is_found_by_the_payments_query(world):
    drain, company, platform, _ = world
    onboard(drain, company)
    drain_all(drain, company)
    (txn_id,) = company.txns["Invoice"]
    customer = company.txns["Invoice"][txn_id].findtext("CustomerRef/ListID")
    company.process(message_set(
        f"<ReceivePaymentAddRq><ReceivePaymentAdd><CustomerRef><ListID>{customer}</ListID></CustomerRef>"
        f"<TotalAmount>50.00</TotalAmount><AppliedToTxnAdd><TxnID>{txn_id}</TxnID><PaymentAmount>50.00"
        "</PaymentAmount></AppliedToTxnAdd></ReceivePaymentAdd></ReceivePaymentAddRq>"))
    drain.request_sync("qbd-run3")
    sent = drain_all(drain, company)
    assert any(f"<TxnID>{txn_id}</TxnID>" in s and "<InvoiceQueryRq" in s for s in sent)
    assert platform.invoices["i1"].status == "paid"
    drain.request_sync("qbd-run4")  # from now on only payments changed since the newest one seen
    assert any("<ReceivePaymentQueryRq" in s and "<FromModifiedDate>" in s for s in drain_all(drain, company))


@pytest.mark.parametrize(("last", "now", "due"), [
    (None, "2026-11-02T06:00:00-07:00", True),  # never ran
    ("2026-11-01T08:05:00-07:00", "2026-11-02T07:30:00-07:00", False),  # today's 08:00 not reached yet
    ("2026-11-01T08:05:00-07:00", "2026-11-02T08:00:00-07:00", True),  # the first poll at or after 08:00
    ("2026-11-02T08:00:00-07:00", "2026-11-02T08:30:00-07:00", False),  # already ran today
])
def test_a_daily_sync_runs_at_the_first_poll_after_its_time_in_its_zone(world, last, now, due):
    drain, company, _, _ = world
    drain.d.settings = settings(company, schedule={"frequency": "daily", "time": "08:00",
                                                   "timezone": "America/Phoenix"})
    drain.d.now = lambda: datetime.fromisoformat(now)
    if last:
        drain.d.repo.change_state(TENANT, lambda state: {**state, "last_sync_at": last})
    assert drain.sync_due() is due


def test_an_hourly_schedule_syncs_at_every_poll(world):
    drain, *_ = world
    drain.d.repo.change_state(TENANT, lambda state: {**state, "last_sync_at": datetime.now(UTC).isoformat()})
    assert drain.sync_due() is True


# -- review mode (SingleOps' Sync Wizard) on Desktop --------------------------------------------------------------

def _reviewing(drain, company):
    from tests.fakes import FakeReviewQueue

    drain.d.review = FakeReviewQueue()
    drain.d.settings = settings(company, review_mode=True)
    return drain.d.review


def _changes_on_both_sides(drain, company, platform, links):
    onboard(drain, company)
    drain_all(drain, company)
    qbd_id = links.get(TENANT, "qbd_client", "c1").qbo_id
    _edit_in_quickbooks(company, qbd_id, "555-0777")  # QuickBooks -> platform
    contact = dataclasses.replace(platform.clients["c1"].contact, email="new@acme.example")  # platform -> QuickBooks
    platform.clients["c1"] = dataclasses.replace(platform.clients["c1"], contact=contact, updated_at=datetime.now(UTC))
    platform.invoices["i2"] = _invoice("i2", "c1", "75.00")  # a new ready invoice
    return qbd_id


def _run(drain, run_id):
    """An everyday run as the Web Connector's authenticate starts one (its run record, then its work)."""
    from shared.domain.records import SyncRun

    drain.d.runs.create(SyncRun(tenant_id=TENANT, run_id=run_id, kind="sync", status="running",
                                started_at=datetime.now(UTC), phase="Web Connector session"))
    drain.request_sync(run_id)


def _waiting(queue):
    return sorted((h.entry.side, h.entry.entity, h.entry.entity_id) for h in queue.waiting(TENANT))


def test_review_mode_holds_every_desktop_change_and_writes_nothing(world):
    drain, company, platform, links = world
    qbd_id = _changes_on_both_sides(drain, company, platform, links)
    queue = _reviewing(drain, company)
    before = company.snapshot()
    drain.request_sync("qbd-run3")
    sent = drain_all(drain, company)
    assert not any("<CustomerModRq" in s or "<InvoiceAddRq" in s for s in sent)
    assert company.snapshot()["lists"]["Customer"] == before["lists"]["Customer"]
    assert len(company.txns["Invoice"]) == 1 and platform.clients["c1"].contact.phone is None
    assert _waiting(queue) == [("export", "customer", "c1"), ("export", "invoice", "i2"),
                               ("import", "customer", qbd_id)]
    assert {h.entry.name for h in queue.waiting(TENANT)} >= {"Acme Heating", "i2"}


def test_approved_desktop_changes_sync_once_at_the_next_run_with_their_newest_state(world):
    from shared.domain.review import State

    drain, company, platform, links = world
    qbd_id = _changes_on_both_sides(drain, company, platform, links)
    queue = _reviewing(drain, company)
    drain.request_sync("qbd-run3")
    drain_all(drain, company)
    for held in queue.waiting(TENANT):
        queue.decide(TENANT, held.entry, State.APPROVED, "admin")
    # changed again after the approval: the newest email is what goes
    contact = dataclasses.replace(platform.clients["c1"].contact, email="newest@acme.example")
    platform.clients["c1"] = dataclasses.replace(platform.clients["c1"], contact=contact, updated_at=datetime.now(UTC))
    _run(drain, "qbd-run4")
    drain_all(drain, company)
    drain.settle_runs(0)
    ret = company.lists["Customer"][qbd_id]
    assert ret.findtext("Email") == "newest@acme.example" and platform.clients["c1"].contact.phone == "555-0777"
    assert len(company.txns["Invoice"]) == 2
    assert sorted(r.outcome for _, r in queue.log) == ["succeeded"] * 3
    drain.request_sync("qbd-run5")  # synced once: nothing more is held or written
    sent = drain_all(drain, company)
    assert not any("<CustomerModRq" in s or "<InvoiceAddRq" in s for s in sent) and _waiting(queue) == []


def test_kept_entries_come_back_and_cleared_ones_stay_away_until_they_change(world):
    from shared.domain.review import State

    drain, company, platform, links = world
    qbd_id = _changes_on_both_sides(drain, company, platform, links)
    queue = _reviewing(drain, company)
    drain.request_sync("qbd-run3")
    drain_all(drain, company)
    for held in queue.waiting(TENANT):
        queue.decide(TENANT, held.entry, State.KEPT if held.entry.side == "import" else State.CLEARED, "admin")
    _run(drain, "qbd-run4")
    drain_all(drain, company)
    assert _waiting(queue) == [("import", "customer", qbd_id)]  # kept: back in the list; cleared: gone
    assert company.lists["Customer"][qbd_id].findtext("Email") != "new@acme.example"


def test_review_mode_turned_off_releases_and_syncs_what_waited(world):
    drain, company, platform, links = world
    qbd_id = _changes_on_both_sides(drain, company, platform, links)
    queue = _reviewing(drain, company)
    drain.request_sync("qbd-run3")
    drain_all(drain, company)
    drain.d.settings = settings(company)  # review mode off
    _run(drain, "qbd-run4")
    drain_all(drain, company)
    drain.settle_runs(0)
    assert company.lists["Customer"][qbd_id].findtext("Email") == "new@acme.example"
    assert platform.clients["c1"].contact.phone == "555-0777" and len(company.txns["Invoice"]) == 2
    assert _waiting(queue) == []


def test_an_approved_change_quickbooks_refuses_is_failed_with_its_code_and_in_the_error_log(world):
    from shared.domain.review import State

    drain, company, platform, links = world
    _changes_on_both_sides(drain, company, platform, links)
    queue = _reviewing(drain, company)
    drain.request_sync("qbd-run3")
    drain_all(drain, company)
    for held in queue.waiting(TENANT):
        if held.entry.entity == "invoice":
            queue.decide(TENANT, held.entry, State.APPROVED, "admin")
    drain.d.settings = settings(company, invoices={"income_account_id": "80000099-1"}, review_mode=True)
    company.lists["Item"].clear()  # the Field Service item is gone, and its account is now a deleted one
    _run(drain, "qbd-run4")
    drain_all(drain, company)
    drain.settle_runs(0)
    (failed,) = [r for _, r in queue.log if r.entry.entity == "invoice"]
    assert failed.outcome == "failed" and failed.message.startswith("3140")
    assert any(e.entity == "invoice" and e.entity_id == "i2" and e.code == "3140" for e in drain.d.errors.list(TENANT))


# -- invoices after sync: edits as InvoiceMod, voids as TxnVoid -----------------------------------------------------
def _synced_invoice(drain, company, links):
    onboard(drain, company)
    drain_all(drain, company)
    txn_id = links.get(TENANT, "qbd_invoice", "i1").qbo_id
    return txn_id, company.txns["Invoice"][txn_id]


def _edit_invoice(platform, iid, price):
    amount = Decimal(price)
    invoice = platform.invoices[iid]
    line = dataclasses.replace(invoice.lines[0], unit_price=amount, amount=amount)
    platform.invoices[iid] = dataclasses.replace(invoice, lines=(line,), subtotal=amount, total=amount, balance=amount,
                                                 memo="extra visit")


def test_a_platform_edit_after_sync_reaches_quickbooks_as_invoice_mod_with_its_edit_sequence(world):
    drain, company, platform, links = world
    txn_id, before = _synced_invoice(drain, company, links)
    edit_sequence = before.findtext("EditSequence")
    drain.request_sync("qbd-run3")
    assert not any("<InvoiceModRq" in s for s in drain_all(drain, company))  # nothing changed: nothing sent
    _edit_invoice(platform, "i1", "80.00")
    drain.request_sync("qbd-run4")
    mods = [s for s in drain_all(drain, company) if "<InvoiceModRq" in s]
    assert len(mods) == 1 and f"<TxnID>{txn_id}</TxnID>" in mods[0]
    assert f"<EditSequence>{edit_sequence}</EditSequence>" in mods[0]
    after = company.txns["Invoice"][txn_id]
    assert (after.findtext("Subtotal"), after.findtext("Memo")) == ("80.00", "extra visit")
    assert len(after.findall("InvoiceLineRet")) == 1 and len(company.txns["Invoice"]) == 1
    assert after.findtext("RefNumber") == before.findtext("RefNumber")  # QuickBooks' number stays
    assert links.get(TENANT, "qbd_invoice", "i1").sync_token == after.findtext("EditSequence")
    drain.request_sync("qbd-run5")
    assert not any("<InvoiceModRq" in s for s in drain_all(drain, company))  # that version is in QuickBooks


def test_a_stale_invoice_edit_sequence_is_re_read_and_the_mod_retried(world):
    drain, company, platform, links = world
    txn_id, _ = _synced_invoice(drain, company, links)
    _edit_invoice(platform, "i1", "80.00")
    drain.request_sync("qbd-run3")
    real = company.process
    edits = []

    def user_saves_once(request):  # a QuickBooks user saves the invoice after our read, before our Mod
        if "<InvoiceModRq" in request and not edits:
            ret = company.txns["Invoice"][txn_id]
            edits.append(real(message_set(f"<InvoiceModRq><InvoiceMod><TxnID>{txn_id}</TxnID><EditSequence>"
                                          f"{ret.findtext('EditSequence')}</EditSequence><DueDate>2026-12-31"
                                          "</DueDate></InvoiceMod></InvoiceModRq>")))
        return real(request)

    company.process = user_saves_once
    sent = drain_all(drain, company)
    mods = [s for s in sent if "<InvoiceModRq" in s]
    assert len(mods) == 2 and any("<InvoiceQueryRq" in s and txn_id in s for s in sent)
    assert company.txns["Invoice"][txn_id].findtext("Subtotal") == "80.00"
    assert drain.d.errors.get(TENANT, "invoice#i1") is None or drain.d.errors.get(TENANT, "invoice#i1").resolved


def test_an_invoice_stale_every_time_ends_in_the_error_log_with_3200(world, monkeypatch):
    from shared.qbdesktop import drain as drain_module

    drain, company, platform, links = world
    txn_id, _ = _synced_invoice(drain, company, links)
    _edit_invoice(platform, "i1", "80.00")
    drain.request_sync("qbd-run3")
    link = links.get(TENANT, "qbd_invoice", "i1")
    monkeypatch.setattr(drain_module.qbxml, "txn_query", lambda *a, **k: drain_module.qbxml._rq("InvoiceQuery"))
    real = company.process

    def always_stale(request):
        if "<InvoiceModRq" in request:
            return real(request.replace(f"<EditSequence>{link.sync_token}</EditSequence>",
                                        "<EditSequence>1</EditSequence>"))
        return real(request)

    company.process = always_stale
    drain_all(drain, company)
    error = drain.d.errors.get(TENANT, "invoice#i1")
    assert error is not None and error.code == "3200" and "out-of-date" in error.message
    assert company.txns["Invoice"][txn_id].findtext("Subtotal") == "50.00"


def test_a_platform_void_voids_the_quickbooks_invoice_once_and_never_marks_it_paid(world):
    drain, company, platform, links = world
    txn_id, before = _synced_invoice(drain, company, links)
    platform.invoices["i1"] = dataclasses.replace(platform.invoices["i1"], status="void")
    drain.request_sync("qbd-run3")
    sent = drain_all(drain, company)
    assert sum("<TxnVoidRq" in s for s in sent) == 1 and not any("<InvoiceModRq" in s for s in sent)
    voided = company.txns["Invoice"][txn_id]
    assert voided.findtext("Subtotal") == "0.00" and voided.findtext("RefNumber") == before.findtext("RefNumber")
    assert links.get(TENANT, "qbd_invoice", "i1").extra["voided"] is True
    drain.request_sync("qbd-run4")
    assert not any("<TxnVoidRq" in s for s in drain_all(drain, company))
    assert str(platform.invoices["i1"].status) == "void"  # its zero balance is not a payment


def test_a_void_whose_reply_was_lost_is_looked_up_and_not_sent_twice(world):
    drain, company, platform, links = world
    txn_id, _ = _synced_invoice(drain, company, links)
    platform.invoices["i1"] = dataclasses.replace(platform.invoices["i1"], status="void")
    drain.request_sync("qbd-run3")
    while True:
        item, request = drain.next_request("s1")
        response = company.process(request)
        if "<TxnVoidRq" in request:
            break  # QuickBooks voided it; the answer never came back
        drain.apply(drain.d.repo.get_work(TENANT, item.sk), response)
    sent = drain_all(drain, company, ticket="s2")
    assert "<InvoiceQueryRq" in sent[0] and txn_id in sent[0] and not any("<TxnVoidRq" in s for s in sent)
    assert links.get(TENANT, "qbd_invoice", "i1").extra["voided"] is True


# -- sites and jobs after onboarding -------------------------------------------------------------------------------

def _site(sid, client_id, name, line1, active=True):
    address = Address(line1=line1, city="Phoenix", state="AZ", postal_code="85001", country="US")
    return Site(id=sid, client_id=client_id, name=name, address=address, contact=None, active=active,
                created_at=NOW, updated_at=datetime.now(UTC))


def _job(company, parent, name):
    return next(r for r in company.lists["Customer"].values() if r.findtext("FullName") == f"{parent}:{name}")


def test_a_site_added_after_onboarding_becomes_a_job_under_its_client_looked_up_first_and_added_once(world):
    drain, company, platform, links = world
    onboard(drain, company)
    drain_all(drain, company)
    platform.sites["s1"] = _site("s1", "c1", "North Yard", "9 North Rd")
    drain.request_sync("qbd-run3")
    sent = drain_all(drain, company)
    look = next(i for i, r in enumerate(sent) if "<FullName>Acme Heating:North Yard</FullName>" in r)
    add = next(i for i, r in enumerate(sent) if "<CustomerAddRq" in r)
    assert look < add  # decision 24: looked up by FullName before it is added
    job = _job(company, "Acme Heating", "North Yard")
    assert job.findtext("ParentRef/ListID") == links.get(TENANT, "qbd_client", "c1").qbo_id
    assert (job.findtext("ShipAddress/Addr1"), job.findtext("ShipAddress/State")) == ("9 North Rd", "AZ")
    assert links.get(TENANT, "qbd_site", "s1").qbo_id == job.findtext("ListID")
    drain.request_sync("qbd-run4")
    again = drain_all(drain, company)
    assert not any("<CustomerAddRq" in r or "<CustomerModRq" in r for r in again)
    assert len(company.lists["Customer"]) == 2


def test_a_site_held_by_review_mode_is_named_in_the_wizard_by_the_job_name_it_would_get(world):
    drain, company, platform, links = world
    onboard(drain, company)
    drain_all(drain, company)
    queue = _reviewing(drain, company)
    platform.sites["s1"] = _site("s1", "c1", "North Yard", "9 North Rd")
    drain.request_sync("qbd-run3")
    drain_all(drain, company)
    held = {h.entry.entity_id: h.entry.name for h in queue.waiting(TENANT) if h.entry.entity == "site"}
    assert held == {"s1": "North Yard"}


def test_a_later_site_whose_job_quickbooks_has_already_is_adopted_not_added(world):
    drain, company, platform, links = world
    onboard(drain, company)
    drain_all(drain, company)
    platform.sites["s1"] = _site("s1", "c1", "North Yard", "9 North Rd")
    drain.request_sync("qbd-run3")
    real, made = company.process, []

    def user_adds_the_job_first(request):  # a QuickBooks user keys the job in after our pull, before our add
        if "<FullName>Acme Heating:North Yard</FullName>" in request and not made:
            made.append(real(message_set(
                "<CustomerAddRq><CustomerAdd><Name>North Yard</Name><ParentRef><FullName>Acme Heating</FullName>"
                "</ParentRef></CustomerAdd></CustomerAddRq>")))
        return real(request)

    company.process = user_adds_the_job_first
    sent = drain_all(drain, company)
    assert made and not any("<CustomerAddRq" in r for r in sent)
    assert links.get(TENANT, "qbd_site", "s1").qbo_id == _job(company, "Acme Heating", "North Yard").findtext(
        "ListID")


def test_a_site_edited_on_the_platform_goes_out_as_customer_mod_of_its_job_with_its_edit_sequence(world):
    drain, company, platform, links = world
    onboard(drain, company)
    drain_all(drain, company)
    platform.sites["s1"] = _site("s1", "c1", "North Yard", "9 North Rd")
    drain.request_sync("qbd-run3")
    drain_all(drain, company)
    job = _job(company, "Acme Heating", "North Yard")
    sequence = job.findtext("EditSequence")
    platform.sites["s1"] = _site("s1", "c1", "North Yard", "11 North Rd")
    drain.request_sync("qbd-run4")
    (mod,) = [r for r in drain_all(drain, company) if "<CustomerModRq" in r]
    assert f"<ListID>{job.findtext('ListID')}</ListID><EditSequence>{sequence}</EditSequence>" in mod
    assert "<Name>" not in mod  # the job keeps its name (decision 37)
    job = _job(company, "Acme Heating", "North Yard")
    assert job.findtext("ShipAddress/Addr1") == "11 North Rd"
    assert links.get(TENANT, "qbd_site", "s1").sync_token == job.findtext("EditSequence")
    drain.request_sync("qbd-run5")
    assert not any("<CustomerModRq" in r for r in drain_all(drain, company))


def test_a_stale_job_edit_sequence_is_re_read_and_the_site_edit_retried(world):
    drain, company, platform, links = world
    onboard(drain, company)
    drain_all(drain, company)
    platform.sites["s1"] = _site("s1", "c1", "North Yard", "9 North Rd")
    drain.request_sync("qbd-run3")
    drain_all(drain, company)
    job_id = links.get(TENANT, "qbd_site", "s1").qbo_id
    platform.sites["s1"] = _site("s1", "c1", "North Yard", "11 North Rd", active=False)
    drain.request_sync("qbd-run4")
    real, edits = company.process, []

    def user_saves_once(request):
        if "<CustomerModRq" in request and not edits:
            edits.append(_edit_in_quickbooks(company, job_id, "555-0199", real))
        return real(request)

    company.process = user_saves_once
    sent = drain_all(drain, company)
    assert len([r for r in sent if "<CustomerModRq" in r]) == 2
    job = company.lists["Customer"][job_id]
    assert (job.findtext("ShipAddress/Addr1"), job.findtext("IsActive"), job.findtext("Phone")) == \
        ("11 North Rd", "false", "555-0199")


def test_a_job_added_in_quickbooks_after_onboarding_becomes_a_site_of_its_client_once(world):
    drain, company, platform, links = world
    onboard(drain, company)
    drain_all(drain, company)
    company.process(message_set(
        "<CustomerAddRq><CustomerAdd><Name>South Yard</Name><ParentRef><FullName>Acme Heating</FullName></ParentRef>"
        "<ShipAddress><Addr1>4 South Rd</Addr1><City>Phoenix</City><PostalCode>85001</PostalCode></ShipAddress>"
        "</CustomerAdd></CustomerAddRq>"
        "<CustomerAddRq><CustomerAdd><Name>Boiler Project</Name><ParentRef><FullName>Acme Heating</FullName>"
        "</ParentRef></CustomerAdd></CustomerAddRq>"))
    for run in ("qbd-run3", "qbd-run4"):
        drain.request_sync(run)
        drain_all(drain, company)
    (site,) = platform.sites.values()  # the project (no ship-to address) stays in QuickBooks only
    assert (site.client_id, site.name, site.address.line1) == ("c1", "South Yard", "4 South Rd")
    assert site.address.state == "AZ"  # "Use client State/Country for sites"
    assert links.get(TENANT, "qbd_site", site.id).qbo_id == _job(company, "Acme Heating", "South Yard").findtext(
        "ListID")
    assert not [c for c in platform.clients.values() if c.company_name in ("South Yard", "Boiler Project")]


def test_a_site_of_a_client_not_in_quickbooks_yet_waits_then_becomes_a_job(world):
    drain, company, platform, links = world
    onboard(drain, company)
    drain_all(drain, company)
    platform.clients["c2"] = dataclasses.replace(_client("c2", "Bolt Plumbing"), updated_at=datetime.now(UTC))
    platform.sites["s2"] = _site("s2", "c2", "Shop", "3 Bolt Way")
    drain.request_sync("qbd-run3")
    drain_all(drain, company)
    assert [(e.entity_id, e.code) for e in drain.d.errors.list(TENANT)] == [("s2", "waiting_for_client")]
    drain.request_sync("qbd-run4")
    drain_all(drain, company)
    assert _job(company, "Bolt Plumbing", "Shop").findtext("ShipAddress/Addr1") == "3 Bolt Way"
    assert drain.d.errors.list(TENANT) == []


# -- run history -----------------------------------------------------------------------------------------------------

def _desktop_run(run_id, status="pending", started_at=None):
    from shared.domain.records import SyncRun

    return SyncRun(tenant_id=TENANT, run_id=run_id, kind="sync", status=status, started_at=started_at or NOW)


def test_desktop_run_ids_sort_by_time_like_the_online_runs(monkeypatch):
    from shared.domain import admin
    from shared.qbdesktop.phases import desktop_run_id, is_desktop_run

    class Clock(datetime):
        moment = datetime(2026, 12, 1, 23, 59, 59, tzinfo=UTC)

        @classmethod
        def now(cls, tz=None):
            return cls.moment

    monkeypatch.setattr(admin, "datetime", Clock)
    first = desktop_run_id("sync")
    Clock.moment = datetime(2026, 12, 2, 0, 0, 1, tzinfo=UTC)
    later = desktop_run_id("onboarding")
    assert first.startswith("20261201T235959-qbd-sync-") and later > first
    assert is_desktop_run(first) and is_desktop_run("qbd-3f2a9c") and not is_desktop_run(admin.new_run_id("sync"))


def test_settling_finds_a_pending_desktop_run_however_many_runs_came_after_it(world):
    from shared.qbdesktop.phases import desktop_run_id

    drain, company, _, _ = world
    old = desktop_run_id("sync")
    drain.record_run(_desktop_run(old))
    for i in range(25):  # newer runs, all settled: the pending one is far outside any window of the newest
        drain.d.runs.create(_desktop_run(f"2099{old[4:-8]}{i:08x}", status="succeeded", started_at=NOW + timedelta(i)))
    assert old not in {r.run_id for r in drain.d.runs.history(TENANT, limit=20)}
    assert drain.waiting_run().run_id == old  # "Sync Now" answers with the run still waiting
    drain.settle_runs(0)
    assert drain.d.runs.get(TENANT, old).status == "succeeded"
    assert drain.waiting_run() is None and drain._state().get("open_runs") == []


def test_a_run_with_work_left_stays_pending_until_the_session_that_finishes_it(world):
    from shared.qbdesktop.phases import PENDING_PHASE, desktop_run_id

    drain, company, _, _ = world
    run_id = desktop_run_id("onboarding")
    drain.record_run(_desktop_run(run_id))
    drain.request_onboarding(run_id)
    round_trip(drain, company)
    drain.settle_runs(1)
    run = drain.d.runs.get(TENANT, run_id)
    assert (run.status, run.phase) == ("pending", PENDING_PHASE)
    drain_all(drain, company)
    drain.settle_runs(5)
    assert drain.d.runs.get(TENANT, run_id).status == "succeeded"


# -- cleared fields --------------------------------------------------------------------------------------------------

def test_fields_cleared_on_the_platform_are_cleared_in_quickbooks(world):
    drain, company, platform, links = world
    platform.clients["c1"] = dataclasses.replace(
        platform.clients["c1"], contact=Contact(email="c1@example.com", phone="555-0100"),
        billing_address=Address(line1="1 Main St", line2="Suite 4", city="Phoenix", state="AZ", postal_code="85001",
                                country="US"))
    onboard(drain, company)
    drain_all(drain, company)
    qbd_id = links.get(TENANT, "qbd_client", "c1").qbo_id
    assert company.lists["Customer"][qbd_id].findtext("BillAddress/Addr2") == "Suite 4"
    platform.clients["c1"] = dataclasses.replace(
        platform.clients["c1"], contact=Contact(email=None, phone=""), updated_at=datetime.now(UTC),
        billing_address=Address(line1="1 Main St", city="Phoenix", state="AZ", postal_code="85001", country="US"))
    drain.request_sync("qbd-run3")
    (mod,) = [s for s in drain_all(drain, company) if "<CustomerModRq" in s]
    assert "<Email />" in mod and "<Phone />" in mod and "<Addr2 />" in mod
    ret = company.lists["Customer"][qbd_id]
    assert ret.find("Email") is None and ret.find("Phone") is None and ret.find("BillAddress/Addr2") is None
    assert ret.findtext("BillAddress/Addr1") == "1 Main St" and ret.findtext("CompanyName") == "Acme Heating"
    drain.request_sync("qbd-run4")  # cleared on both sides now: nothing more to send either way
    assert not any("<CustomerModRq" in s for s in drain_all(drain, company))
    assert platform.clients["c1"].contact.email is None


# -- items edited after they were sent -----------------------------------------------------------------------------

def _items_to_quickbooks(drain, company, platform):
    platform.__class__ = ItemPlatform
    platform.items = {i.id: i for i in (_platform_item("eq1", "Compressor", "equipment", "900.00"),
                                        _platform_item("sv1", "Labor", "service", "80.00"),
                                        _platform_item("ni1", "Filter", "non_inventory", "5.00"))}
    drain.d.settings = settings(company, items={
        "enabled": True, "direction": "platform_to_quickbooks",
        "income_account_id": list_id(company, "Account", "Sales"),
        "expense_account_id": list_id(company, "Account", "Cost of Goods Sold"),
        "asset_account_id": list_id(company, "Account", "Inventory Asset")})
    onboard(drain, company)
    drain_all(drain, company)
    return {r.findtext("Name"): r for r in company.lists["Item"].values()}


def test_an_item_edited_after_it_was_sent_goes_out_as_the_mod_of_the_type_it_was_added_as(world):
    drain, company, platform, links = world
    before = _items_to_quickbooks(drain, company, platform)
    for iid, price in (("eq1", "950.00"), ("sv1", "85.00"), ("ni1", "6.00")):
        platform.items[iid] = dataclasses.replace(platform.items[iid], price=Decimal(price),
                                                  description=None if iid == "sv1" else platform.items[iid].name)
    drain.request_sync("qbd-run3")
    sent = drain_all(drain, company)
    mods = sorted(s.split("<QBXMLMsgsRq onError=\"stopOnError\">")[1].split(">")[0] for s in sent if "ModRq" in s)
    assert mods == ["<ItemInventoryModRq", "<ItemNonInventoryModRq", "<ItemServiceModRq"]
    service_mod = next(s for s in sent if "<ItemServiceModRq" in s)
    seq = before["Labor"].findtext("EditSequence")
    assert f"<EditSequence>{seq}</EditSequence>" in service_mod and "<Desc />" in service_mod
    after = {r.findtext("Name"): r for r in company.lists["Item"].values()}
    assert after["Compressor"].findtext("SalesPrice") == "950.00"
    assert after["Compressor"].findtext("COGSAccountRef/FullName") == "Cost of Goods Sold"  # accounts untouched
    assert (after["Labor"].findtext("SalesOrPurchase/Price"), after["Labor"].find("SalesOrPurchase/Desc")) == \
        ("85.00", None)
    assert after["Filter"].findtext("SalesOrPurchase/Price") == "6.00"
    assert links.get(TENANT, "qbd_item", "sv1").sync_token == after["Labor"].findtext("EditSequence")
    drain.request_sync("qbd-run4")  # nothing changed since: nothing sent
    assert not any("ModRq" in s for s in drain_all(drain, company))


def test_a_stale_item_edit_sequence_is_re_read_and_the_item_mod_retried(world):
    drain, company, platform, links = world
    before = _items_to_quickbooks(drain, company, platform)
    labor_id = before["Labor"].findtext("ListID")
    platform.items["sv1"] = dataclasses.replace(platform.items["sv1"], active=False)
    drain.request_sync("qbd-run3")
    real, edits = company.process, []

    def user_saves_once(request):  # a QuickBooks user edits the item after our read, before our Mod
        if "<ItemServiceModRq" in request and not edits:
            ret = company.lists["Item"][labor_id]
            edits.append(real(message_set(
                f"<ItemServiceModRq><ItemServiceMod><ListID>{labor_id}</ListID><EditSequence>"
                f"{ret.findtext('EditSequence')}</EditSequence><SalesOrPurchaseMod><Desc>Shop labor</Desc>"
                "</SalesOrPurchaseMod></ItemServiceMod></ItemServiceModRq>")))
        return real(request)

    company.process = user_saves_once
    sent = drain_all(drain, company)
    assert len([s for s in sent if "<ItemServiceModRq" in s]) == 2
    assert any("<ItemQueryRq" in s and labor_id in s for s in sent)
    assert company.lists["Item"][labor_id].findtext("IsActive") == "false"


# -- deleted and voided in QuickBooks --------------------------------------------------------------------------------

def _errors(drain):
    return {(e.entity, e.entity_id): e for e in drain.d.errors.list(TENANT)}


def test_a_customer_deleted_in_quickbooks_is_flagged_and_never_re_created_nor_written_to(world):
    drain, company, platform, links = world
    onboard(drain, company)
    drain_all(drain, company)
    qbd_id = links.get(TENANT, "qbd_client", "c1").qbo_id
    company.process(message_set(f"<ListDelRq><ListDelType>Customer</ListDelType><ListID>{qbd_id}</ListID>"
                                "</ListDelRq>"))
    drain.request_sync("qbd-run3")
    sent = drain_all(drain, company)
    assert any("<ListDeletedQueryRq" in s and "<ListDelType>Customer</ListDelType>" in s for s in sent)
    flagged = _errors(drain)[("client", "c1")]
    assert flagged.code == "deleted_in_quickbooks" and "Acme Heating" in flagged.message
    platform.clients["c1"] = dataclasses.replace(platform.clients["c1"], active=False, updated_at=datetime.now(UTC))
    platform.invoices["i2"] = _invoice("i2", "c1", "20.00")
    drain.request_sync("qbd-run4")
    sent = drain_all(drain, company)
    assert not any("<CustomerAddRq" in s or "<CustomerModRq" in s or "<InvoiceAddRq" in s for s in sent)
    assert company.lists["Customer"] == {} and "c1" in platform.clients  # the platform client stays
    assert _errors(drain)[("invoice", "i2")].code == "customer_deleted_in_quickbooks"
    since = next(s for s in sent if "<ListDeletedQueryRq" in s)
    assert "<FromDeletedDate>" in since  # later runs ask only for what was deleted since the newest one seen


def test_an_invoice_voided_in_quickbooks_is_recorded_and_no_edit_payment_or_paid_status_follows(world):
    drain, company, platform, links = world
    txn_id, _ = _synced_invoice(drain, company, links)
    company.process(message_set(f"<TxnVoidRq><TxnVoidType>Invoice</TxnVoidType><TxnID>{txn_id}</TxnID></TxnVoidRq>"))
    drain.request_sync("qbd-run3")
    drain_all(drain, company)
    assert _errors(drain)[("invoice", "i1")].code == "voided_in_quickbooks"
    assert links.get(TENANT, "qbd_invoice", "i1").extra["voided"] is True
    assert str(platform.invoices["i1"].status) != "paid"  # a void's zero balance is not a payment
    _edit_invoice(platform, "i1", "75.00")
    drain.request_sync("qbd-run4")
    assert not any("<InvoiceModRq" in s for s in drain_all(drain, company))


def test_an_invoice_and_a_payment_deleted_in_quickbooks_are_recorded_and_not_sent_again(world):
    drain, company, platform, links = world
    txn_id, ret = _synced_invoice(drain, company, links)
    customer = ret.findtext("CustomerRef/ListID")
    payment = company.process(message_set(
        f"<ReceivePaymentAddRq><ReceivePaymentAdd><CustomerRef><ListID>{customer}</ListID></CustomerRef>"
        f"<TotalAmount>50.00</TotalAmount><AppliedToTxnAdd><TxnID>{txn_id}</TxnID><PaymentAmount>50.00"
        "</PaymentAmount></AppliedToTxnAdd></ReceivePaymentAdd></ReceivePaymentAddRq>"))
    payment_id = payment.split("<TxnID>")[1].split("<")[0]
    from shared.domain.records import Link

    links.put(Link(tenant_id=TENANT, entity="qbd_payment", fsp_id="p1", qbo_id=payment_id))
    for kind, ident in (("ReceivePayment", payment_id), ("Invoice", txn_id)):
        company.process(message_set(f"<TxnDelRq><TxnDelType>{kind}</TxnDelType><TxnID>{ident}</TxnID></TxnDelRq>"))
    drain.request_sync("qbd-run3")
    sent = drain_all(drain, company)
    assert any("<TxnDeletedQueryRq" in s for s in sent)
    errors = _errors(drain)
    assert errors[("invoice", "i1")].code == errors[("payment", "p1")].code == "deleted_in_quickbooks"
    _edit_invoice(platform, "i1", "75.00")
    drain.request_sync("qbd-run4")
    sent = drain_all(drain, company)
    assert not any("<InvoiceModRq" in s or "<InvoiceAddRq" in s for s in sent) and company.txns["Invoice"] == {}


def test_an_item_deleted_in_quickbooks_is_flagged_and_its_edits_not_sent(world):
    drain, company, platform, links = world
    before = _items_to_quickbooks(drain, company, platform)
    company.process(message_set(f"<ListDelRq><ListDelType>ItemService</ListDelType><ListID>"
                                f"{before['Labor'].findtext('ListID')}</ListID></ListDelRq>"))
    platform.items["sv1"] = dataclasses.replace(platform.items["sv1"], price=Decimal("99.00"))
    drain.request_sync("qbd-run3")
    sent = drain_all(drain, company)
    assert _errors(drain)[("item", "sv1")].code == "deleted_in_quickbooks"
    assert not any("<ItemServiceModRq" in s or "<ItemServiceAddRq" in s for s in sent)


def test_what_quickbooks_deleted_or_voided_comes_with_a_suggested_fix():
    from shared.domain.admin import suggested_fix

    for code in ("deleted_in_quickbooks", "customer_deleted_in_quickbooks", "voided_in_quickbooks"):
        assert "QuickBooks" in (suggested_fix(code) or "")


def test_an_item_linked_to_a_quickbooks_type_the_sync_does_not_change_is_reported_not_modified(world):
    from shared.domain.records import Link

    drain, company, platform, links = world
    _items_to_quickbooks(drain, company, platform)
    company.process(message_set("<ItemSalesTaxAddRq><ItemSalesTaxAdd><Name>Levy</Name><TaxRate>1.5</TaxRate>"
                                "</ItemSalesTaxAdd></ItemSalesTaxAddRq>"))
    levy = list_id(company, "Item", "Levy")
    links.put(Link(tenant_id=TENANT, entity="qbd_item", fsp_id="sv1", qbo_id=levy, extra={"fp": "older"}))
    drain.request_sync("qbd-run3")
    sent = drain_all(drain, company)
    assert not any("ModRq" in s for s in sent)
    assert _errors(drain)[("item", "sv1")].code == "item_type_not_modifiable"


def test_review_mode_holds_new_sites_and_jobs_until_approved_then_syncs_them_once(world):
    from shared.domain.review import State

    drain, company, platform, links = world
    onboard(drain, company)
    drain_all(drain, company)
    queue = _reviewing(drain, company)
    platform.sites["s1"] = _site("s1", "c1", "North Yard", "9 North Rd")
    company.process(message_set(
        "<CustomerAddRq><CustomerAdd><Name>South Yard</Name><ParentRef><FullName>Acme Heating</FullName></ParentRef>"
        "<ShipAddress><Addr1>4 South Rd</Addr1><City>Phoenix</City><State>AZ</State></ShipAddress>"
        "</CustomerAdd></CustomerAddRq>"))
    job_id = _job(company, "Acme Heating", "South Yard").findtext("ListID")
    drain.request_sync("qbd-run3")
    sent = drain_all(drain, company)
    assert _waiting(queue) == [("export", "site", "s1"), ("import", "customer", job_id)]
    assert not any("<CustomerAddRq" in s for s in sent) and list(platform.sites) == ["s1"]
    for held in queue.waiting(TENANT):
        queue.decide(TENANT, held.entry, State.APPROVED, "admin")
    drain.request_sync("qbd-run4")
    drain_all(drain, company)
    assert _job(company, "Acme Heating", "North Yard").findtext("ShipAddress/Addr1") == "9 North Rd"
    assert [s.name for s in platform.sites.values() if s.id != "s1"] == ["South Yard"]
    drain.request_sync("qbd-run5")
    sent = drain_all(drain, company)
    assert not any("<CustomerAddRq" in s for s in sent) and _waiting(queue) == [] and len(platform.sites) == 2


def test_a_waiting_site_deleted_on_the_platform_stops_waiting(world):
    from shared.fieldservice.errors import NotFound

    drain, company, platform, _ = world
    onboard(drain, company)
    drain_all(drain, company)
    platform.clients["c2"] = dataclasses.replace(_client("c2", "Bolt Plumbing"), active=False,
                                                 updated_at=datetime.now(UTC))  # inactive: never sent to QuickBooks
    platform.sites["s2"] = _site("s2", "c2", "Shop", "3 Bolt Way")
    drain.request_sync("qbd-run3")
    drain_all(drain, company)
    assert drain._state()["sites_waiting"] == ["s2"]
    del platform.sites["s2"]

    def gone_site(tenant_id, site_id):
        raise NotFound("site not found")

    platform.get_site = gone_site
    drain.request_sync("qbd-run4")
    drain_all(drain, company)
    assert drain._state()["sites_waiting"] == []


# -- the connection's state: two writers at once ----------------------------------------------------------------

def test_a_state_change_that_loses_a_race_reads_again_and_keeps_the_other_writers_keys(world):
    """A Web Connector session saving its cursors while an admin action (or a second request) changes another key
    of the same state: neither change is lost, and the loser's change is applied to the winner's state."""
    from shared.data.desktop_repo import DesktopRepo

    drain, *_ = world
    calls = []

    def save_cursor(state):
        calls.append(dict(state))
        if len(calls) == 1:  # another writer lands between our read and our write
            DesktopRepo().change_state(TENANT, lambda s: {**s, "review": {"run_id": "r1"}})
        return {**state, "cursors": {"customers": "2026-11-01T00:00:00Z"}}

    written = drain.d.repo.change_state(TENANT, save_cursor)
    assert len(calls) == 2 and calls[1]["review"] == {"run_id": "r1"}
    stored = drain.d.repo.connection(TENANT).state
    cursors = {"customers": "2026-11-01T00:00:00Z"}
    assert stored == written == {**calls[0], "review": {"run_id": "r1"}, "cursors": cursors}

