package webui

// kitLabels are the labels of the kit's own parts: layout, login, errors.
var kitLabels = Catalog{
	"lang.az":         {"Azərbaycanca", "Azərbaycanca"},
	"lang.en":         {"English", "English"},
	"lang.switch":     {"Dil", "Language"},
	"nav.menu":        {"Menyu", "Menu"},
	"signedin":        {"Daxil olub", "Signed in as"},
	"logout":          {"Çıxış", "Sign out"},
	"login.title":     {"Giriş", "Sign in"},
	"login.cert":      {"Sertifikatla daxil ol", "Sign in with the certificate"},
	"login.certseen":  {"Brauzer bu sertifikatı təqdim etdi:", "Your browser presented this certificate:"},
	"login.nocert":    {"Brauzer operator sertifikatı təqdim etmədi.", "Your browser presented no operator certificate."},
	"login.badtoken":  {"Giriş linki etibarsızdır, istifadə olunub və ya vaxtı keçib: yenisini yaradın.", "The sign-in link is invalid, used or expired: make a new one."},
	"login.intro":     {"Konsol yalnız operator sertifikatının sahibinə açıqdır.", "The console is open only to the holder of an operator certificate."},
	"login.linkhead":  {"Birdəfəlik giriş linki", "One-time sign-in link"},
	"error.title":     {"Xəta", "Error"},
	"error.back":      {"Geri", "Back"},
	"error.notfound":  {"Belə səhifə yoxdur", "No such page"},
	"error.nosession": {"Sessiya yoxdur və ya bitib: yenidən daxil olun.", "No session, or it has ended: sign in again."},
	"error.csrf":      {"Sorğu rədd edildi: forma bu konsolun səhifəsindən göndərilməyib.", "Request refused: the form was not sent from a page of this console."},
	"done":            {"Hazırdır", "Done"},
	"none":            {"Yoxdur", "None"},
}
