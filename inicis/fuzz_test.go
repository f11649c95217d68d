package inicis

import (
	"net/url"
	"strings"
	"testing"

	"github.com/paygate/paygate/pg"
)

// The fuzz targets check that hostile input never panics and that whatever
// is accepted is well formed. They run their seeds as ordinary tests; run
// one for longer with e.g.
//
//	go test ./inicis -run '^$' -fuzz FuzzParseNotification -fuzztime 60s

func FuzzParseNotification(f *testing.F) {
	seed := url.Values{
		"no_tid": {"StdpayVBNKINIpayTest20231115071320000002"}, "no_oid": {"order-1"}, "id_merchant": {"INIpayTest"},
		"type_msg": {"0200"}, "amt_input": {"10000"}, "dt_trans": {"20231116"}, "tm_trans": {"101500"},
		"nm_input": {"\xc8\xab\xb1\xe6\xb5\xbf"},
	}
	f.Add([]byte(seed.Encode()))
	// The real shape: the deposit's own tid, the payment's in no_req_tid
	// (and no_cshr_tid), sequences, a blank no_transseq.
	real := url.Values{
		"no_tid": {"ININPGVBNKINIpayTest20201228163833983265"}, "no_req_tid": {"StdpayVBNKINIpayTest20201228161804321482"},
		"no_cshr_tid": {"StdpayVBNKINIpayTest20201228161804321482"}, "no_oid": {"1609140975421INIPAY"}, "id_merchant": {"INIpayTest"},
		"type_msg": {"0400"}, "amt_input": {"1000"}, "dt_trans": {"20201228"}, "tm_trans": {"163833"},
		"no_msgseq": {"9000000582"}, "no_transseq": {" "}, "nm_inputbank": {"__\xc5\xd7\xbd\xba\xc6\xae__"},
	}
	f.Add([]byte(real.Encode()))
	f.Add([]byte("no_tid=T&no_req_tid=%01&no_oid=o&id_merchant=m&type_msg=0200&amt_input=1&dt_trans=20231116&no_msgseq=" + strings.Repeat("9", 50)))
	f.Add([]byte("no_tid=T&no_oid=o&id_merchant=m&type_msg=0400&amt_input=1&dt_trans=20231301"))
	f.Add([]byte("%zz&&=="))
	f.Add([]byte("amt_input=1e400&no_tid=%00"))
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := ParseNotification(body)
		if err != nil {
			return
		}
		if !n.Amount.IsPositive() || n.Amount.Currency() != pg.KRW {
			t.Fatalf("accepted amount %s", n.Amount)
		}
		if n.TypeMsg != notiDeposit && n.TypeMsg != notiCancel {
			t.Fatalf("accepted type_msg %q", n.TypeMsg)
		}
		if n.TID == "" || n.OrderID == "" || n.MID == "" {
			t.Fatalf("accepted without ids: %+v", n)
		}
		if _, err := n.OccurredAt(); err != nil {
			t.Fatalf("accepted unreadable time: %v", err)
		}
		if k := n.DedupKey(); len(k) > 255 || !strings.Contains(k, ":"+n.TypeMsg+":") {
			t.Fatalf("dedup key %q", k)
		}
		if n.ReqTID != "" && checkTID("fuzz", n.ReqTID) != nil {
			t.Fatalf("accepted payment tid %q", n.ReqTID)
		}
	})
}

func FuzzParseApproval(f *testing.F) {
	f.Add(200, []byte(`{"resultCode":"0000","tid":"T","MOID":"o","TotPrice":"1000","payMethod":"Card","applDate":"20231115","applTime":"071320"}`))
	f.Add(200, []byte(`{"resultCode":"0000","tid":"T","TotPrice":1000,"payMethod":"VBank","VACT_Date":"20231118","VACT_Time":"235959"}`))
	f.Add(200, []byte(`{"resultCode":"0000","tid":"StdpayCARDINIpayTest20231115071320000001","MOID":"order-1","TotPrice":"1000","payMethod":"Card","applDate":"20231115","applTime":"071320","authSignature":"d4004fb186e859342f3d66455c6a983ed248c81ee2d7b7f2c71fda4b9891c1fb"}`))
	f.Add(200, []byte(`{"resultCode":"0000","tid":"StdpayVBNKINIpayTest20231115071320000002","TotPrice":"1000","VACT_Num":"900","VACT_Date":"20231118"}`))
	f.Add(200, []byte(`{"resultCode":"V801","resultMsg":"x"}`))
	f.Add(500, []byte(`<html>`))
	f.Add(200, []byte(`{"resultCode":null,"tid":{"a":1},"TotPrice":[1]}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		p, err := parseApproval(status, body)
		if err != nil {
			if pg.KindOf(err) == pg.KindDeclined && status == 200 {
				// A decline must come from a readable refusal code.
				f, derr := decodeFields(body)
				if derr != nil || f.str("resultCode") == "0000" {
					t.Fatalf("declined without a refusal: %v", err)
				}
			}
			return
		}
		if p.PaymentKey == "" || !p.Amount.IsSet() || p.Amount.Currency() != pg.KRW {
			t.Fatalf("accepted approval without tid or amount: %+v", p)
		}
		if p.Status != pg.StatusApproved && p.Status != pg.StatusWaitingForDeposit {
			t.Fatalf("approval status %s", p.Status)
		}
	})
}

func FuzzParseAPIResponse(f *testing.F) {
	f.Add(200, []byte(`{"resultCode":"00","tid":"T","oid":"o","price":"10000","transactionStatus":"PART_CANCEL","availablePartCancelPrice":"7000","partCancelTransInfo":[{"tid":"P","requestDate":"20231115","requestTime":"100000","requestPrice":"3000"}]}`))
	f.Add(200, []byte(`{"resultCode":"SUCCESS","tid":"T","price":1,"transactionStatus":"CANCEL","cancelDate":"20231115"}`))
	f.Add(200, []byte(`{"resultCode":"400604"}`))
	f.Add(502, []byte(``))
	f.Add(200, []byte(`{"resultCode":"00","tid":"T","price":"5","transactionStatus":"APPROVAL","partCancelTransInfo":"x"}`))
	// Production shapes: availablePartCancel as a boolean, vacctInfo with
	// the deposit status.
	f.Add(200, []byte(`{"resultCode":"00","tid":"StdpayVBNKINIpayTest20231115071320000002","oid":"o","price":"10000","paymethod":"VBank","transactionStatus":"APPROVAL","availablePartCancel":false,"vacctInfo":{"accountNumber":"900","bankCode":"04","validDate":"20231118","depositStatus":"N","depositAmount":"","depositDate":"","depositTime":""}}`))
	f.Add(200, []byte(`{"resultCode":"00","tid":"StdpayVBNKINIpayTest20231115071320000002","oid":"o","price":"10000","paymethod":"VBank","transactionStatus":"APPROVAL","availablePartCancel":true,"vacctInfo":{"depositStatus":"Y","depositAmount":"10000","depositDate":"20231116","depositTime":"101500"}}`))
	f.Add(200, []byte(`{"resultCode":"00","tid":"StdpayVBNKx","price":1,"transactionStatus":"APPROVAL","vacctInfo":{"depositStatus":"Y","depositAmount":2}}`))
	f.Add(200, []byte(`{"resultCode":"00","tid":"T","price":"3","paymethod":"VBank","transactionStatus":"CANCEL","vacctInfo":{"depositStatus":"N"},"cancelDate":"20231115"}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		for _, a := range []api{apiRefund, apiInquiry} {
			fs, err := parseAPIResponse("op", a, status, body)
			if err != nil {
				if a == apiInquiry && pg.KindOf(err) == pg.KindNotFound {
					f, derr := decodeFields(body)
					if derr != nil || lookupCode(apiInquiry, f.str("resultCode")).kind != pg.KindNotFound {
						t.Fatalf("not found without a not-found code: %v", err)
					}
				}
				continue
			}
			if a != apiInquiry {
				continue
			}
			p, err := parseInquiry(fs)
			if err != nil {
				continue
			}
			if !p.Status.Valid() || !p.Amount.IsSet() || !p.Balance.IsSet() {
				t.Fatalf("accepted inquiry %+v", p)
			}
			if p.Status == pg.StatusCanceled && !p.Balance.IsZero() {
				t.Fatalf("canceled with balance %s", p.Balance)
			}
			if p.Method == pg.MethodVirtualAccount && p.Status.Captured() && !depositStatuses[p.Data["depositStatus"]] {
				// Only a deposit status listed as paid makes an account
				// captured.
				t.Fatalf("virtual account read as %s without a paid deposit status: %+v", p.Status, p)
			}
			if p.Status == pg.StatusWaitingForDeposit && (!p.Balance.IsZero() || len(p.Cancels) > 0) {
				t.Fatalf("unpaid account with balance %s and %d cancels", p.Balance, len(p.Cancels))
			}
			total := pg.Won(0)
			for _, c := range p.Cancels {
				if total, err = total.Add(c.Amount); err != nil {
					t.Fatalf("cancel amounts: %v", err)
				}
			}
			if cmp, _ := total.Cmp(p.Amount); cmp > 0 {
				t.Fatalf("cancels %s exceed the price %s", total, p.Amount)
			}
		}
	})
}

func FuzzParseMobileNotification(f *testing.F) {
	seed := url.Values{
		"P_STATUS": {"00"}, "P_TID": {"INIMX_VBNKINIpayTest20231115071320000001"}, "P_TYPE": {"VBANK"},
		"P_MID": {"INIpayTest"}, "P_OID": {"order-1"}, "P_AMT": {"10000"}, "P_AUTH_DT": {"20231115071320"},
		"P_FN_NM": {"\xb1\xb9\xb9\xce\xc0\xba\xc7\xe0"},
	}
	f.Add([]byte(seed.Encode()))
	f.Add([]byte("P_STATUS=02&P_TID=T&P_TYPE=VBANK&P_MID=m&P_OID=o&P_AMT=1"))
	f.Add([]byte("P_STATUS=00&P_TID=T&P_TID=U&P_TYPE=CARD&P_MID=m&P_OID=o&P_AMT=1e400"))
	f.Add([]byte("P_TID=%00&P_STATUS=%zz"))
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := ParseMobileNotification(body)
		if err != nil {
			return
		}
		if n.TID == "" || n.OrderID == "" || n.MID == "" || !n.Amount.IsPositive() || n.Amount.Currency() != pg.KRW {
			t.Fatalf("accepted a notification without its essentials: %+v", n)
		}
		if err := checkTID("fuzz", n.TID); err != nil {
			t.Fatalf("accepted tid %q: %v", n.TID, err)
		}
		if !strings.HasPrefix(n.DedupKey(), "mobile:"+n.TID+":") {
			t.Fatalf("dedup key %q", n.DedupKey())
		}
	})
}

func FuzzParseMobileApproval(f *testing.F) {
	f.Add([]byte("P_STATUS=00&P_RMESG1=\xc1\xa4\xbb\xf3&P_TID=INIMX_CARDINIpayTest20231115071320000001&P_TYPE=CARD&P_AUTH_DT=20231115071320&P_OID=order-1&P_AMT=1000"))
	f.Add([]byte("P_STATUS=00&P_TID=INIMX_VBNKINIpayTest20231115071320000001&P_TYPE=VBANK&P_AMT=1000&P_VACT_NUM=1&P_VACT_DATE=20231118&P_VACT_TIME=235959"))
	f.Add([]byte("P_STATUS=V801&P_RMESG1=a&b&c"))
	f.Add([]byte("=&&P_STATUS"))
	f.Add([]byte(`{"resultCode":"0000"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, fields, err := parseMobileApproval(200, body)
		if err != nil {
			if pg.KindOf(err) == pg.KindNotFound {
				t.Fatalf("an approval answer read as not found: %v", err)
			}
			return
		}
		if p.PaymentKey == "" || fields["P_STATUS"] != "00" || !p.Amount.IsSet() {
			t.Fatalf("accepted an approval without its essentials: %+v", p)
		}
		if p.Status != pg.StatusApproved && p.Status != pg.StatusWaitingForDeposit {
			t.Fatalf("status %s", p.Status)
		}
	})
}
